/**
 * The launcher's view of the replayer while it connects: its progress messages become
 * progress lines for a person watching, and `allReady` waits until every replayed school is
 * online (or has left its planned offline status). That takes a while for many schools, since
 * the replayer connects them within the broker's admission limits (a few a second after a
 * burst), so the wait has no fixed deadline: it fails only when the replayer exits, or when
 * no school has come online for `stallMs`, with the tail of the replayer's log.
 */
import { tail, type Service } from './supervisor.ts';

export interface ReplayProgressMessage {
  type: 'replay-progress';
  ready: number;
  of: number;
}

function isProgress(message: unknown): message is ReplayProgressMessage {
  const m = message as Partial<ReplayProgressMessage> | null;
  return m?.type === 'replay-progress' && typeof m.ready === 'number' && typeof m.of === 'number';
}

const CHECK_EVERY_MS = 250;
const SAY_EVERY_MS = 5_000;

export class ReplayWatch {
  private latest: ReplayProgressMessage | null = null;
  private changedAt = Date.now();
  private cancelled = false;

  constructor(
    private readonly say: (line: string) => void,
    private readonly stallMs = 90_000,
  ) {}

  /** Every IPC message of the replayer's process (from its fork on). */
  onMessage(message: unknown): void {
    if (!isProgress(message)) return;
    if (message.ready !== this.latest?.ready) this.changedAt = Date.now();
    this.latest = message;
  }

  /** Stop waiting (the district is being stopped). */
  cancel(): void {
    this.cancelled = true;
  }

  async allReady(service: Pick<Service<unknown>, 'child' | 'logFile'>): Promise<void> {
    this.changedAt = Date.now();
    let saidAt = Date.now();
    let said = -1;
    for (;;) {
      const latest = this.latest;
      if (latest && latest.ready >= latest.of) return;
      if (this.cancelled) throw new Error('stopped while the replayed schools were connecting');
      const { child } = service;
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`the replayer exited (${child.exitCode ?? child.signalCode}) while its schools connected. Last lines of ${service.logFile}:\n${tail(service.logFile)}`);
      if (Date.now() - this.changedAt > this.stallMs)
        throw new Error(
          `no replayed school came online for ${this.stallMs / 1000} s (${latest?.ready ?? 0}/${latest?.of ?? '?'} so far). Last lines of ${service.logFile}:\n${tail(service.logFile)}`,
        );
      if (latest && Date.now() - saidAt >= SAY_EVERY_MS && latest.ready !== said) {
        this.say(`  replayed schools online: ${latest.ready}/${latest.of}`);
        said = latest.ready;
        saidAt = Date.now();
      }
      await new Promise((resolve) => setTimeout(resolve, CHECK_EVERY_MS));
    }
  }
}

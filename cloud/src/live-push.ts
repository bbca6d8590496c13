/**
 * socket.io live updates, for signed-in principals only, each seeing its own part.
 *
 * The handshake carries the same credentials as the API: the session cookie (a browser
 * sends it by itself) or an API token (`auth: { token }`). Without one the handshake is
 * refused. A connected principal joins the rooms of the schools in its scope and gets a
 * 'school' event (a full SchoolSummary) when one of them changes, at most once per school
 * per second. Raw 'reading' events go only to those who ask with
 * emit('subscribe', { readings: schoolId | '*' }) and whose role may stream readings of
 * that school; the answer (an ack) says whether it was granted and why not.
 *
 * A principal's rights are looked at again whenever an account changes (sign-out, a user
 * changed or disabled, a token or display revoked) and every minute (sessions expire): a
 * socket whose credential no longer holds is disconnected, one whose scope shrank leaves
 * the rooms it may no longer see.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { Server, type Socket } from 'socket.io';
import { SUBSCRIPTIONS, decide, type Principal, type Reading } from '@schoolops/device-profiles';
import type { ClientToServerEvents, ServerToClientEvents, SubscribeAnswer } from '@schoolops/device-profiles/api';
import type { LiveState } from './live-state.ts';
import { visibleSummary } from './api/visibility.ts';

const SCHOOL_THROTTLE_MS = 1000;
const RECHECK_MS = 60_000;
const schoolRoom = (schoolId: string) => `school:${schoolId}`;
const readingsRoom = (schoolId: string) => `readings:${schoolId}`;

/** How a handshake is turned into a principal (the API's own check, given by the server). */
export interface LiveAuth {
  /** The principal of this handshake's cookie or token, or null. */
  authenticate(request: IncomingMessage, auth: Record<string, unknown>): Principal | null;
  /** Calls `listener` after any change that may take rights away; returns the unsubscribe. */
  onAccountsChanged(listener: () => void): () => void;
}

export interface LivePushStats {
  refusedHandshakes: number;
  refusedSubscriptions: number;
  disconnectedOnRecheck: number;
}

interface SocketData {
  principal: Principal;
  auth: Record<string, unknown>;
}
type LiveSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

export function attachLivePush(
  server: HttpServer | HttpsServer,
  live: LiveState,
  schools: readonly string[],
  liveAuth: LiveAuth,
  o: { recheckMs?: number } = {},
): { io: Server; stats: LivePushStats; close(): Promise<void> } {
  const io = new Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>(server, {
    serveClient: false,
    cors: { origin: false },
    // A client sends only small control messages; anything bigger is not ours.
    maxHttpBufferSize: 16 * 1024,
  });
  const stats: LivePushStats = { refusedHandshakes: 0, refusedSubscriptions: 0, disconnectedOnRecheck: 0 };
  const dirty = new Set<string>();

  io.use((socket, next) => {
    const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    const principal = liveAuth.authenticate(socket.request, auth);
    if (!principal) {
      stats.refusedHandshakes++;
      const error = new Error('sign in first: no valid session cookie or API token') as Error & { data?: unknown };
      error.data = { status: 401 };
      return next(error);
    }
    socket.data = { principal, auth };
    next();
  });

  const joinScope = (socket: LiveSocket) => {
    const { principal } = socket.data;
    for (const id of schools) {
      const may = decide(principal, SUBSCRIPTIONS.schools, id).allowed;
      if (may) void socket.join(schoolRoom(id));
      else void socket.leave(schoolRoom(id));
    }
    for (const room of socket.rooms) {
      if (!room.startsWith('readings:')) continue;
      const id = room.slice('readings:'.length);
      if (!decide(principal, SUBSCRIPTIONS.readings, id === '*' ? null : id).allowed) void socket.leave(room);
    }
  };

  io.on('connection', (socket) => {
    joinScope(socket);
    // Typed by the contract, but sent by any client: every part is checked.
    socket.on('subscribe', (request: unknown, ack?: unknown) => {
      const answer = typeof ack === 'function' ? (ack as (r: SubscribeAnswer) => void) : () => undefined;
      const schoolId = (request as { readings?: unknown } | null)?.readings;
      if (typeof schoolId !== 'string' || schoolId.length > 100) {
        stats.refusedSubscriptions++;
        return answer({ ok: false, reason: 'ask for { readings: schoolId } or { readings: "*" }' });
      }
      const { principal } = socket.data;
      const decision = decide(principal, SUBSCRIPTIONS.readings, schoolId === '*' ? null : schoolId);
      if (!decision.allowed) {
        stats.refusedSubscriptions++;
        return answer({ ok: false, reason: decision.reason });
      }
      void socket.join(readingsRoom(schoolId));
      answer({ ok: true });
    });
  });

  /** Look at every socket's rights again: gone -> disconnect; narrower -> leave rooms. */
  const recheck = () => {
    for (const socket of io.of('/').sockets.values()) {
      const data = socket.data;
      const principal = liveAuth.authenticate(socket.request, data.auth);
      if (!principal) {
        stats.disconnectedOnRecheck++;
        socket.disconnect(true);
        continue;
      }
      socket.data = { ...data, principal };
      joinScope(socket);
    }
  };
  const unsubscribe = liveAuth.onAccountsChanged(recheck);
  const recheckTimer = setInterval(recheck, o.recheckMs ?? RECHECK_MS);
  recheckTimer.unref();

  const onSchool = (schoolId: string) => dirty.add(schoolId);
  const onReading = (schoolId: string, reading: Reading) => io.to([readingsRoom(schoolId), readingsRoom('*')]).emit('reading', { schoolId, ...reading });
  live.on('school', onSchool);
  live.on('reading', onReading);

  const timer = setInterval(() => {
    for (const schoolId of dirty) {
      const summary = live.summary(schoolId);
      if (!summary) continue;
      // Each socket gets the summary as its principal may see it (a principal's has no link figures).
      for (const socket of io.of('/').sockets.values()) {
        if (socket.rooms.has(schoolRoom(schoolId))) socket.emit('school', visibleSummary(summary, socket.data.principal));
      }
    }
    dirty.clear();
  }, SCHOOL_THROTTLE_MS);

  return {
    io: io as unknown as Server,
    stats,
    close: async () => {
      clearInterval(timer);
      clearInterval(recheckTimer);
      unsubscribe();
      live.off('school', onSchool);
      live.off('reading', onReading);
      await new Promise<void>((resolve) => io.close(() => resolve()));
    },
  };
}

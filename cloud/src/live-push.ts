/**
 * socket.io live updates. Every client gets a 'school' event (a full SchoolSummary) when a
 * school changes, at most once per school per second. Raw 'reading' events go only to
 * clients that asked for them with emit('subscribe', { readings: schoolId | '*' }), so a
 * wall display is not flooded with every sample of every device.
 */
import type { Server as HttpServer } from 'node:http';
import { Server } from 'socket.io';
import type { LiveState } from './live-state.ts';

const SCHOOL_THROTTLE_MS = 1000;
const readingsRoom = (schoolId: string) => `readings:${schoolId}`;

export function attachLivePush(server: HttpServer, live: LiveState): { io: Server; close(): Promise<void> } {
  const io = new Server(server, { serveClient: false, cors: { origin: false } });
  const dirty = new Set<string>();

  io.on('connection', (socket) => {
    socket.on('subscribe', (request: unknown) => {
      const schoolId = (request as { readings?: unknown } | null)?.readings;
      if (typeof schoolId === 'string' && schoolId.length <= 100) void socket.join(readingsRoom(schoolId));
    });
  });

  const onSchool = (schoolId: string) => dirty.add(schoolId);
  const onReading = (schoolId: string, reading: import('@schoolops/device-profiles').Reading) =>
    io.to([readingsRoom(schoolId), readingsRoom('*')]).emit('reading', { schoolId, ...reading });
  live.on('school', onSchool);
  live.on('reading', onReading);

  const timer = setInterval(() => {
    for (const schoolId of dirty) {
      const summary = live.summary(schoolId);
      if (summary) io.emit('school', summary);
    }
    dirty.clear();
  }, SCHOOL_THROTTLE_MS);

  return {
    io,
    close: async () => {
      clearInterval(timer);
      live.off('school', onSchool);
      live.off('reading', onReading);
      await new Promise<void>((resolve) => io.close(() => resolve()));
    },
  };
}

/**
 * Attendance for principals: per lesson of a school day, the class, its room, how many are
 * enrolled and how many the room's camera counted (the gateway counts on the school's box;
 * only numbers arrive here), and per room and period whether the room was in use.
 *
 * Built from the timetable in the district record and the cameras' readings: each lesson
 * is matched with the readings of the camera in its room during its period.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { hhmmToMinutes, localTime, zonedInstant } from '@schoolops/device-profiles';
import { AttendanceDay, AttendanceQuery, ErrorBody, SchoolParams } from '@schoolops/device-profiles/api';
import type { ApiContext } from './context.ts';
import { sendError } from './errors.ts';
import type { HistoryBucket } from '../storage/types.ts';


function mean(values: number[]): number | null {
  return values.length ? Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 10) / 10 : null;
}

export const attendanceRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { district, store, schoolClockOffsetMs: offset }) => {
  app.get(
    '/schools/:schoolId/attendance',
    {
      schema: {
        tags: ['schools'],
        summary: "A school day's attendance per lesson and room usage per period, from the classroom cameras' counts",
        params: SchoolParams,
        querystring: AttendanceQuery,
        response: { 200: AttendanceDay, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const school = district.schools.get(request.params.schoolId);
      if (!school) return sendError(reply, 'unknown_school', { schoolId: request.params.schoolId });
      const timeZone = district.inventory.district.timezone;
      const date = request.query.date ?? localTime(new Date(Date.now() + offset), timeZone).date;
      const [y, m, d] = date.split('-').map(Number) as [number, number, number];
      // ISO weekday of the date (1 = Monday), as the timetable counts days.
      const day = ((new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7) + 1;
      // School time to the readings' (real) timestamps.
      const at = (minutes: number) => zonedInstant(date, minutes, timeZone) - offset;
      const window = (start: string, end: string) => ({ from: at(hhmmToMinutes(start)), to: at(hhmmToMinutes(end)) });

      const cameraOfRoom = new Map(district.devicesOf(school.id).filter((e) => e.profile.kind === 'camera').map((e) => [e.record.roomId, e.record.id]));
      const dayStart = at(0);
      // One question per camera for the whole day, in 5-minute buckets; lessons take their period's.
      const buckets = new Map<string, HistoryBucket[]>();
      await Promise.all(
        [...cameraOfRoom.values()].map(async (deviceId) => {
          const rows = await store.history({ deviceId, metrics: ['headcount', 'attendancePct', 'occupied'], from: dayStart, to: dayStart + 86_400_000, bucketMs: 300_000 });
          buckets.set(deviceId, rows);
        }),
      );
      const within = (deviceId: string | undefined, metric: string, from: number, to: number) =>
        (deviceId ? (buckets.get(deviceId) ?? []) : []).filter((b) => b.metric === metric && b.t >= from && b.t < to);

      const now = Date.now();
      const periods = new Map(school.timetable.periods.map((p) => [p.n, p]));
      const classes = new Map(school.classes.map((c) => [c.id, c]));
      const lessons = school.timetable.lessons
        .filter((l) => l.day === day)
        .sort((a, b) => a.period - b.period || a.roomId.localeCompare(b.roomId))
        .flatMap((lesson) => {
          const period = periods.get(lesson.period);
          const schoolClass = classes.get(lesson.classId);
          if (!period || !schoolClass) return [];
          const { from, to } = window(period.start, period.end);
          const when = now >= to ? ('past' as const) : now >= from ? ('now' as const) : ('later' as const);
          const camera = cameraOfRoom.get(lesson.roomId);
          const heads = within(camera, 'headcount', from, to);
          const rates = within(camera, 'attendancePct', from, to);
          return [
            {
              period: period.n,
              start: period.start,
              end: period.end,
              classId: schoolClass.id,
              className: schoolClass.name,
              roomId: lesson.roomId,
              enrolled: schoolClass.enrolment,
              counts: heads.reduce((n, b) => n + b.count, 0),
              headcount: mean(heads.flatMap((b) => (b.avg === null ? [] : [b.avg]))),
              attendancePct: mean(rates.flatMap((b) => (b.avg === null ? [] : [b.avg]))),
              when,
            },
          ];
        });
      const rooms = [...cameraOfRoom].map(([roomId, camera]) => {
        const usage: Record<string, boolean> = {};
        for (const period of school.timetable.periods) {
          const { from, to } = window(period.start, period.end);
          const seen = within(camera, 'occupied', from, to);
          if (seen.length) usage[String(period.n)] = seen.some((b) => (b.max ?? 0) > 0);
        }
        return { roomId, periods: usage };
      });
      return { schoolId: school.id, date, clockOffsetMs: offset, lessons, rooms };
    },
  );
};

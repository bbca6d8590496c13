/**
 * Attendance for principals: per lesson of a school day, the class, its room, how many are
 * enrolled and how many the room's camera counted (the gateway counts on the school's box;
 * only numbers arrive here), and per room and period whether the room was in use.
 *
 * Built from the timetable in the district record and the cameras' readings: each lesson
 * is matched with the readings of the camera in its room during its period (attendance-data.ts,
 * which the range views of attendance-reports.ts read too).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AttendanceDay, AttendanceQuery, ErrorBody, SchoolParams } from '@schoolops/device-profiles/api';
import { StoreBusyError } from '../storage/types.ts';
import { loadCameraCounts, parseDate, round1, lessonFacts, roomState, SchoolFrame, type Readings } from './attendance-data.ts';
import type { ApiContext } from './context.ts';
import { sendError } from './errors.ts';
import { sendBusy } from './history.ts';

export const attendanceRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { district, store, schoolClockOffsetMs: offset, now: clock = Date.now }) => {
  app.get(
    '/schools/:schoolId/attendance',
    {
      schema: {
        tags: ['schools'],
        summary: "A school day's attendance per lesson and room usage per period, from the classroom cameras' counts",
        params: SchoolParams,
        querystring: AttendanceQuery,
        response: { 200: AttendanceDay, 400: ErrorBody, 404: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const school = district.schools.get(request.params.schoolId);
      if (!school) return sendError(reply, 'unknown_school', { schoolId: request.params.schoolId });
      const frame = new SchoolFrame(school, district, district.inventory.district.timezone, offset);
      const now = clock();
      const date = request.query.date === undefined ? frame.today(now) : parseDate(request.query.date);
      // The schema takes the form; a day the calendar lacks (2025-02-30) is refused here.
      if (date === null) return sendError(reply, 'bad_date', { field: 'date', value: request.query.date ?? '' });

      let readings: Readings;
      try {
        readings = await loadCameraCounts(store, frame, { from: date, to: date });
      } catch (error) {
        if (error instanceof StoreBusyError) return sendBusy(reply, error);
        throw error;
      }
      const lessons = lessonFacts(frame, [date], readings, now).map((f) => ({
        period: f.period.n,
        start: f.period.start,
        end: f.period.end,
        classId: f.schoolClass.id,
        className: f.schoolClass.name,
        roomId: f.roomId,
        enrolled: f.schoolClass.enrolment,
        counts: f.counts,
        headcount: round1(f.headcount),
        attendancePct: round1(f.attendancePct),
        when: f.when,
      }));
      // Rooms with a camera; a period is left out when the camera did not count in it.
      const rooms = [...frame.cameraOfRoom].map(([roomId, camera]) => {
        const usage: Record<string, boolean> = {};
        for (const period of frame.periods) {
          const { from, to } = frame.window(date, period);
          const { state } = roomState(readings, camera, from, to);
          if (state !== 'no_data') usage[String(period.n)] = state === 'occupied';
        }
        return { roomId, periods: usage };
      });
      return { schoolId: school.id, date, clockOffsetMs: offset, lessons, rooms };
    },
  );
};

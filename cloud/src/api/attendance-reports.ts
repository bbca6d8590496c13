/**
 * The principal's view over a range of school days: attendance by day, week or month with
 * per-class trends and the classes below a threshold, room usage (per room, per week, per
 * weekday x period, the labs), and both as CSV or .xlsx. All of it is attendance (the
 * policy gives these routes `attendance:read` and writes every answer to the audit log; the
 * handlers add which view it was to the entry).
 *
 * Every route reads the cameras' counts once per camera for the whole range
 * (attendance-data.ts) and refuses with a code of the catalog: a date that is not one
 * (bad_date), a range backwards or longer than MAX_ATTENDANCE_RANGE_DAYS, an unknown class,
 * a class the timetable gives no lesson, a range without a school day; 503 when the store
 * is busy.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  AttendanceExportQuery,
  AttendanceSummary,
  AttendanceSummaryQuery,
  DEFAULT_ATTENDANCE_THRESHOLD_PCT,
  ErrorBody,
  RoomUsageExportQuery,
  RoomUsageQuery,
  RoomUsageRange,
  SchoolParams,
} from '@schoolops/device-profiles/api';
import { StoreBusyError } from '../storage/types.ts';
import {
  addDays,
  isRefusal,
  lessonFacts,
  loadReadings,
  resolveRange,
  roomPeriodFacts,
  SchoolFrame,
  weekdayOf,
  type DateRange,
  type LessonFact,
  type Readings,
  type RoomPeriodFact,
} from './attendance-data.ts';
import { attendanceTables, CONTENT_TYPES, roomUsageTables, tableCsv, tablesXlsx, type ExportFormat, type Lang } from './attendance-export.ts';
import { buildRoomUsage, buildSummary, type RoomUsageBody, type SummaryBody } from './attendance-range.ts';
import type { ApiContext } from './context.ts';
import { sendError } from './errors.ts';
import { sendBusy } from './history.ts';

/** The lab controllers' printer state is read in 5-minute buckets (they report every 30 s). */
const CONTROLLER_BUCKET_MS = 5 * 60_000;

const ERRORS = { 400: ErrorBody, 404: ErrorBody, 503: ErrorBody };
const FILE_ANSWER = {
  description: 'the file: CSV (UTF-8 with BOM) or an xlsx workbook, as an attachment',
  content: {
    'text/csv': { schema: { type: 'string' } },
    [CONTENT_TYPES.xlsx]: { schema: { type: 'string', format: 'binary' } },
  },
};

type Prepared = { frame: SchoolFrame; range: DateRange; schoolDates: string[]; now: number };

export const attendanceReportRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { district, store, schoolClockOffsetMs: offset, now: clock = Date.now }) => {
  /**
   * The school, the range and (when named) the class of a question, or the refusal sent.
   * School days are the dates whose weekday has lessons (of the class) in the timetable.
   */
  const prepare = (reply: FastifyReply, schoolId: string, query: { from?: string; to?: string }, classId?: string): Prepared | null => {
    const school = district.schools.get(schoolId);
    if (!school) {
      void sendError(reply, 'unknown_school', { schoolId });
      return null;
    }
    const frame = new SchoolFrame(school, district, district.inventory.district.timezone, offset);
    const now = clock();
    const range = resolveRange(query, frame.today(now));
    if (isRefusal(range)) {
      void sendError(reply, range.code, range.params);
      return null;
    }
    if (classId !== undefined) {
      if (!frame.classes.has(classId)) {
        void sendError(reply, 'unknown_class', { classId });
        return null;
      }
      if (!frame.hasLessons(classId)) {
        void sendError(reply, 'class_without_lessons', { classId });
        return null;
      }
    }
    const schoolDates = frame.schoolDates(range.dates, classId);
    if (schoolDates.length === 0) {
      void sendError(reply, 'no_lessons_in_range', { from: range.from, to: range.to, ...(classId !== undefined ? { classId } : {}) });
      return null;
    }
    return { frame, range, schoolDates, now };
  };

  /** The cameras of the rooms that matter, over the school days' span only. */
  const cameraCounts = (p: Prepared, metrics: readonly string[], roomIds: Iterable<string>): Promise<Readings> =>
    loadReadings(store, {
      deviceIds: [...new Set(roomIds)].flatMap((roomId) => p.frame.cameraOfRoom.get(roomId) ?? []),
      metrics,
      from: p.frame.at(p.schoolDates[0]!, 0),
      to: p.frame.at(addDays(p.schoolDates.at(-1)!, 1), 0),
      offsetMs: offset,
    });

  /**
   * Lessons of the school days (of one class), with their counts. The summary needs only the
   * rates (`withHeadcounts` false), which only lesson counts carry: the free-room counts of
   * every 15 minutes, most of a camera's rows, stay in the store. The export also shows how
   * many counts and people.
   */
  const lessonsOf = async (p: Prepared, classId: string | undefined, withHeadcounts: boolean): Promise<LessonFact[]> => {
    const rooms = new Set<string>();
    for (const weekday of new Set(p.schoolDates.map(weekdayOf))) {
      for (const lesson of p.frame.lessonsOn(weekday)) if (classId === undefined || lesson.classId === classId) rooms.add(lesson.roomId);
    }
    const readings = await cameraCounts(p, withHeadcounts ? ['headcount', 'attendancePct'] : ['attendancePct'], rooms);
    return lessonFacts(p.frame, p.schoolDates, readings, p.now, classId);
  };

  /**
   * Every room's periods on the school days, and the room-usage answer built from them. The
   * answer needs only `occupied`; the export also shows the most people a count saw
   * (`withHeadcounts`: twice the rows).
   */
  const usageOf = async (p: Prepared, withHeadcounts: boolean): Promise<{ facts: RoomPeriodFact[]; body: RoomUsageBody }> => {
    const controllerIds = p.frame.school.rooms.filter((r) => r.type === 'lab').flatMap((r) => p.frame.labControllerOfRoom.get(r.id) ?? []);
    // One after the other: a request keeps at most READ_CONCURRENCY questions in flight.
    const counts = await cameraCounts(
      p,
      withHeadcounts ? ['occupied', 'headcount'] : ['occupied'],
      p.frame.school.rooms.map((r) => r.id),
    );
    const controllers = await loadReadings(store, {
      deviceIds: controllerIds,
      metrics: ['printerState'],
      from: p.frame.at(p.schoolDates[0]!, 0),
      to: p.frame.at(addDays(p.schoolDates.at(-1)!, 1), 0),
      bucketMs: CONTROLLER_BUCKET_MS,
      offsetMs: offset,
    });
    const facts = roomPeriodFacts(p.frame, p.schoolDates, counts, p.now);
    return { facts, body: buildRoomUsage(p.frame, p.range, p.schoolDates, facts, controllers) };
  };

  /** Runs a handler's reading; a store refusing as busy becomes 503 with Retry-After. */
  const reading = async <T>(reply: FastifyReply, work: () => Promise<T>): Promise<T | null> => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof StoreBusyError) {
        void sendBusy(reply, error);
        return null;
      }
      throw error;
    }
  };

  const sendFile = async (
    request: FastifyRequest,
    reply: FastifyReply,
    o: { what: string; schoolId: string; range: DateRange; format: ExportFormat; lang: Lang; tables: ReturnType<typeof attendanceTables> },
  ) => {
    const body = o.format === 'csv' ? tableCsv(o.tables[0]!) : await tablesXlsx(o.tables, { lang: o.lang, created: new Date(), title: `${o.what} ${o.schoolId} ${o.range.from} – ${o.range.to}` });
    request.auditDetail = { view: `${o.what}-export`, format: o.format, rows: o.tables[0]!.rows.length };
    return reply
      .header('content-type', CONTENT_TYPES[o.format])
      .header('content-disposition', `attachment; filename="${o.what}-${o.schoolId}-${o.range.from}-${o.range.to}.${o.format}"`)
      .header('cache-control', 'no-store')
      .send(body);
  };

  app.get(
    '/schools/:schoolId/attendance/summary',
    {
      schema: {
        tags: ['schools'],
        summary: 'Attendance over a range of school days: by day, ISO week or month, per class with its trend, the classes below a threshold, and how well each camera counted',
        params: SchoolParams,
        querystring: AttendanceSummaryQuery,
        response: { 200: AttendanceSummary, ...ERRORS },
      },
    },
    async (request, reply) => {
      const { classId, by = 'week', threshold = DEFAULT_ATTENDANCE_THRESHOLD_PCT } = request.query;
      const p = prepare(reply, request.params.schoolId, request.query, classId);
      if (!p) return reply;
      const facts = await reading(reply, () => lessonsOf(p, classId, false));
      if (!facts) return reply;
      request.auditDetail = { view: 'summary' };
      const body: SummaryBody = buildSummary(p.frame, p.range, facts, { by, threshold, ...(classId !== undefined ? { classId } : {}) });
      return { schoolId: p.frame.school.id, clockOffsetMs: offset, ...body };
    },
  );

  app.get(
    '/schools/:schoolId/room-usage',
    {
      schema: {
        tags: ['schools'],
        summary: "Room usage over a range of school days from the cameras' counts: per room and ISO week, per weekday and period, and the labs",
        params: SchoolParams,
        querystring: RoomUsageQuery,
        response: { 200: RoomUsageRange, ...ERRORS },
      },
    },
    async (request, reply) => {
      const p = prepare(reply, request.params.schoolId, request.query);
      if (!p) return reply;
      const usage = await reading(reply, () => usageOf(p, false));
      if (!usage) return reply;
      request.auditDetail = { view: 'room-usage' };
      return { schoolId: p.frame.school.id, clockOffsetMs: offset, ...usage.body };
    },
  );

  app.get(
    '/schools/:schoolId/attendance/export',
    {
      schema: {
        tags: ['schools'],
        summary: 'Attendance over a range as CSV (every lesson) or xlsx (every lesson, per class, per class and week)',
        params: SchoolParams,
        querystring: AttendanceExportQuery,
        response: { 200: FILE_ANSWER, ...ERRORS },
      },
    },
    async (request, reply) => {
      const { classId, format = 'csv', lang = 'vi', threshold = DEFAULT_ATTENDANCE_THRESHOLD_PCT } = request.query;
      const p = prepare(reply, request.params.schoolId, request.query, classId);
      if (!p) return reply;
      const facts = await reading(reply, () => lessonsOf(p, classId, true));
      if (!facts) return reply;
      const weekly = buildSummary(p.frame, p.range, facts, { by: 'week', threshold, ...(classId !== undefined ? { classId } : {}) });
      const tables = attendanceTables(facts, weekly, p.frame.rooms, lang);
      return sendFile(request, reply, { what: 'attendance', schoolId: p.frame.school.id, range: p.range, format, lang, tables });
    },
  );

  app.get(
    '/schools/:schoolId/room-usage/export',
    {
      schema: {
        tags: ['schools'],
        summary: 'Room usage over a range as CSV (every room in every period) or xlsx (that, per room, weekday x period, the labs)',
        params: SchoolParams,
        querystring: RoomUsageExportQuery,
        response: { 200: FILE_ANSWER, ...ERRORS },
      },
    },
    async (request, reply) => {
      const { format = 'csv', lang = 'vi' } = request.query;
      const p = prepare(reply, request.params.schoolId, request.query);
      if (!p) return reply;
      const usage = await reading(reply, () => usageOf(p, true));
      if (!usage) return reply;
      const classNames = new Map(p.frame.school.classes.map((c) => [c.id, c.name]));
      const tables = roomUsageTables(usage.facts, usage.body, classNames, lang);
      return sendFile(request, reply, { what: 'room-usage', schoolId: p.frame.school.id, range: p.range, format, lang, tables });
    },
  );
};

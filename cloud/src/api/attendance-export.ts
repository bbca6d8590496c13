/**
 * Attendance and room usage as files a school office opens: CSV (csv.ts: UTF-8 with BOM,
 * RFC 4180) holding the detail table, and an .xlsx workbook (exceljs) holding it and the
 * summary tables, with real dates and numbers, headings in Vietnamese (or English).
 *
 * Each export is a table list; CSV writes the first, the workbook one sheet per table.
 */
import ExcelJS from 'exceljs';
import type { Room } from '@schoolops/device-profiles';
import type { SummaryBody, RoomUsageBody } from './attendance-range.ts';
import type { LessonFact, LessonStatus, RoomPeriodFact, RoomState } from './attendance-data.ts';
import { csvFile, type CsvValue } from './csv.ts';

export type Lang = 'vi' | 'en';
export type ExportFormat = 'csv' | 'xlsx';

type ColumnKind = 'text' | 'date' | 'int' | 'pct';
interface Column {
  header: string;
  kind: ColumnKind;
  width: number;
}
export interface Table {
  /** The sheet's name (at most 31 characters, none of []:*?/\). */
  sheet: string;
  columns: Column[];
  rows: CsvValue[][];
}

const WEEKDAYS: Record<Lang, readonly string[]> = {
  vi: ['', 'Thứ Hai', 'Thứ Ba', 'Thứ Tư', 'Thứ Năm', 'Thứ Sáu', 'Thứ Bảy', 'Chủ Nhật'],
  en: ['', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'],
};
const LESSON_STATUS: Record<Lang, Record<Exclude<LessonStatus, 'later'>, string>> = {
  vi: { counted: 'Đã đếm', no_camera: 'Phòng không có camera', no_count: 'Camera không đếm trong tiết này' },
  en: { counted: 'counted', no_camera: 'no camera in the room', no_count: 'the camera did not count in this period' },
};
const ROOM_STATE: Record<Lang, Record<RoomState, string>> = {
  vi: { occupied: 'Có người', empty: 'Trống', no_data: 'Không có dữ liệu' },
  en: { occupied: 'in use', empty: 'empty', no_data: 'no data' },
};
const ROOM_TYPE: Record<Lang, Record<Room['type'], string>> = {
  vi: { classroom: 'Phòng học', lab: 'Phòng thí nghiệm', 'computer-lab': 'Phòng Tin học', library: 'Thư viện', hall: 'Hội trường', office: 'Văn phòng', 'server-room': 'Phòng máy chủ' },
  en: { classroom: 'classroom', lab: 'laboratory', 'computer-lab': 'computer lab', library: 'library', hall: 'hall', office: 'office', 'server-room': 'server room' },
};

const col = (header: string, kind: ColumnKind = 'text', width = 12): Column => ({ header, kind, width });

const T = {
  vi: {
    date: 'Ngày', weekday: 'Thứ', period: 'Tiết', start: 'Bắt đầu', end: 'Kết thúc', class: 'Lớp', grade: 'Khối', subject: 'Môn học',
    room: 'Phòng', roomName: 'Tên phòng', roomType: 'Loại phòng', enrolled: 'Sĩ số', counts: 'Số lần đếm', headcount: 'Số người đếm được (trung bình)',
    attendancePct: 'Tỉ lệ có mặt (%)', note: 'Ghi chú', lessons: 'Số tiết đã diễn ra', counted: 'Số tiết đã đếm', noCamera: 'Tiết ở phòng không có camera',
    noCount: 'Tiết camera không đếm', below: (t: number) => `Dưới ngưỡng ${t} %`, yes: 'Có', no: '',
    scheduledClass: 'Lớp theo thời khoá biểu', state: 'Tình trạng', maxHeadcount: 'Số người nhiều nhất', camera: 'Camera', periods: 'Số tiết (đã qua)',
    countedPeriods: 'Số tiết có dữ liệu', inUse: 'Số tiết có người', usePct: 'Tỉ lệ sử dụng (%)', scheduled: 'Số tiết theo thời khoá biểu',
    scheduledInUse: 'Tiết theo TKB có người', scheduledUsePct: 'Tỉ lệ sử dụng tiết theo TKB (%)', unscheduledInUse: 'Có người ngoài TKB',
    periodsReporting: 'Tiết bộ điều khiển có báo', periodsPrinting: 'Tiết máy in 3D đang in', periodLabel: (n: number, s: string, e: string) => `Tiết ${n} (${s}–${e})`,
    sheets: { lessons: 'Tiết học', classes: 'Theo lớp', weeks: 'Theo tuần', periods: 'Theo tiết', rooms: 'Theo phòng', grid: 'Thứ × tiết (%)', labs: 'Phòng thí nghiệm' },
  },
  en: {
    date: 'Date', weekday: 'Weekday', period: 'Period', start: 'Start', end: 'End', class: 'Class', grade: 'Grade', subject: 'Subject',
    room: 'Room', roomName: 'Room name', roomType: 'Room type', enrolled: 'Enrolled', counts: 'Counts', headcount: 'People counted (mean)',
    attendancePct: 'Attendance (%)', note: 'Note', lessons: 'Lessons held', counted: 'Lessons counted', noCamera: 'Lessons in a room without a camera',
    noCount: 'Lessons the camera did not count', below: (t: number) => `Below ${t} %`, yes: 'yes', no: '',
    scheduledClass: 'Class by the timetable', state: 'State', maxHeadcount: 'Most people counted', camera: 'Camera', periods: 'Periods (begun)',
    countedPeriods: 'Periods with data', inUse: 'Periods in use', usePct: 'Use (%)', scheduled: 'Timetable periods',
    scheduledInUse: 'Timetable periods in use', scheduledUsePct: 'Timetable periods in use (%)', unscheduledInUse: 'In use outside the timetable',
    periodsReporting: 'Periods the controller reported', periodsPrinting: 'Periods the 3D printer printed', periodLabel: (n: number, s: string, e: string) => `Period ${n} (${s}-${e})`,
    sheets: { lessons: 'Lessons', classes: 'Classes', weeks: 'By week', periods: 'Periods', rooms: 'Rooms', grid: 'Weekday x period (%)', labs: 'Labs' },
  },
} as const;

const r1 = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);

/** Attendance: every lesson that has begun; per class over the range; per class and ISO week (`weekly` is the summary by week). */
export function attendanceTables(facts: readonly LessonFact[], weekly: SummaryBody, rooms: ReadonlyMap<string, Room>, lang: Lang): Table[] {
  const t = T[lang];
  const lessons: Table = {
    sheet: t.sheets.lessons,
    columns: [
      col(t.date, 'date'), col(t.weekday, 'text', 10), col(t.period, 'int', 6), col(t.start, 'text', 8), col(t.end, 'text', 8), col(t.class, 'text', 8),
      col(t.grade, 'int', 6), col(t.subject, 'text', 20), col(t.room, 'text', 14), col(t.roomName, 'text', 24), col(t.enrolled, 'int', 8),
      col(t.counts, 'int', 10), col(t.headcount, 'pct', 14), col(t.attendancePct, 'pct', 14), col(t.note, 'text', 30),
    ],
    rows: facts
      .filter((f) => f.status !== 'later')
      .map((f) => [
        f.date, WEEKDAYS[lang][f.weekday]!, f.period.n, f.period.start, f.period.end, f.schoolClass.name, f.schoolClass.grade, f.lesson.subject[lang],
        f.roomId, rooms.get(f.roomId)?.name[lang] ?? '', f.schoolClass.enrolment, f.counts, r1(f.headcount), r1(f.attendancePct), LESSON_STATUS[lang][f.status as Exclude<LessonStatus, 'later'>],
      ]),
  };
  const classes: Table = {
    sheet: t.sheets.classes,
    columns: [
      col(t.class, 'text', 8), col(t.grade, 'int', 6), col(t.enrolled, 'int', 8), col(t.lessons, 'int', 12), col(t.counted, 'int', 12),
      col(t.noCamera, 'int', 14), col(t.noCount, 'int', 14), col(t.attendancePct, 'pct', 14), col(t.below(weekly.threshold), 'text', 14),
    ],
    rows: weekly.classes.map((c) => [c.className, c.grade, c.enrolled, c.total.lessons, c.total.counted, c.total.noCamera, c.total.noCount, c.total.attendancePct, c.below ? t.yes : t.no]),
  };
  const weeks: Table = {
    sheet: t.sheets.weeks,
    columns: [col(t.class, 'text', 8), ...weekly.buckets.map((b) => col(b.key, 'pct', 10))],
    rows: weekly.classes.map((c) => [c.className, ...c.trend.map((p) => p.attendancePct)]),
  };
  return [lessons, classes, weeks];
}

/** Room usage: every room in every period that has begun; per room; weekday x period; labs. */
export function roomUsageTables(facts: readonly RoomPeriodFact[], usage: RoomUsageBody, classNames: ReadonlyMap<string, string>, lang: Lang): Table[] {
  const t = T[lang];
  const periods: Table = {
    sheet: t.sheets.periods,
    columns: [
      col(t.date, 'date'), col(t.weekday, 'text', 10), col(t.period, 'int', 6), col(t.start, 'text', 8), col(t.end, 'text', 8), col(t.room, 'text', 14),
      col(t.roomName, 'text', 24), col(t.roomType, 'text', 16), col(t.scheduledClass, 'text', 12), col(t.state, 'text', 16), col(t.counts, 'int', 10), col(t.maxHeadcount, 'int', 12),
    ],
    rows: facts
      .filter((f) => f.begun)
      .map((f) => [
        f.date, WEEKDAYS[lang][f.weekday]!, f.period.n, f.period.start, f.period.end, f.room.id, f.room.name[lang], ROOM_TYPE[lang][f.room.type],
        f.lesson ? (classNames.get(f.lesson.classId) ?? f.lesson.classId) : '', ROOM_STATE[lang][f.state], f.counts, f.maxHeadcount,
      ]),
  };
  const figureColumns = [
    col(t.periods, 'int', 10), col(t.countedPeriods, 'int', 10), col(t.inUse, 'int', 10), col(t.usePct, 'pct', 10), col(t.scheduled, 'int', 12),
    col(t.scheduledInUse, 'int', 12), col(t.scheduledUsePct, 'pct', 12), col(t.unscheduledInUse, 'int', 12),
  ];
  const figureCells = (f: RoomUsageBody['total']) => [f.periods, f.counted, f.inUse, f.usePct, f.scheduled, f.scheduledInUse, f.scheduledUsePct, f.unscheduledInUse];
  const rooms: Table = {
    sheet: t.sheets.rooms,
    columns: [col(t.room, 'text', 14), col(t.roomName, 'text', 24), col(t.roomType, 'text', 16), col(t.camera, 'text', 24), ...figureColumns],
    rows: usage.rooms.map((r) => [r.roomId, r.name[lang], ROOM_TYPE[lang][r.type as Room['type']] ?? r.type, r.cameraId ?? '', ...figureCells(r.total)]),
  };
  const weekdays = [...new Set(usage.grid.map((c) => c.day))];
  const grid: Table = {
    sheet: t.sheets.grid,
    columns: [col(t.period, 'text', 20), ...weekdays.map((d) => col(WEEKDAYS[lang][d]!, 'pct', 10))],
    rows: usage.periods.map((p) => [t.periodLabel(p.n, p.start, p.end), ...weekdays.map((d) => usage.grid.find((c) => c.day === d && c.period === p.n)?.usePct ?? null)]),
  };
  const labs: Table = {
    sheet: t.sheets.labs,
    columns: [col(t.room, 'text', 14), col(t.roomName, 'text', 24), col(t.camera, 'text', 24), ...figureColumns, col(t.periodsReporting, 'int', 12), col(t.periodsPrinting, 'int', 12)],
    rows: usage.labs.map((l) => [l.roomId, l.name[lang], l.cameraId ?? '', ...figureCells(l.total), l.controller?.periodsReporting ?? null, l.controller?.periodsPrinting ?? null]),
  };
  return [periods, rooms, grid, labs];
}

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
};

/** The CSV of the first table. */
export function tableCsv(table: Table): Buffer {
  return csvFile(
    table.columns.map((c) => c.header),
    table.rows,
  );
}

const dateValue = (value: CsvValue) => {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return value ?? null;
  const [y, m, d] = value.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d));
};

/** One sheet per table: headings bold, frozen and filterable; dates as dates, numbers as numbers. */
export async function tablesXlsx(tables: readonly Table[], o: { lang: Lang; created: Date; title: string }): Promise<Buffer> {
  const workbook = new ExcelJS.Workbook();
  workbook.creator = 'SchoolOps';
  workbook.created = o.created;
  workbook.modified = o.created;
  workbook.title = o.title;
  for (const table of tables) {
    const sheet = workbook.addWorksheet(table.sheet, { views: [{ state: 'frozen', ySplit: 1 }] });
    sheet.columns = table.columns.map((c) => ({
      header: c.header,
      width: Math.max(c.width, Math.min(40, c.header.length + 2)),
      style: c.kind === 'date' ? { numFmt: o.lang === 'vi' ? 'dd/mm/yyyy' : 'yyyy-mm-dd' } : c.kind === 'pct' ? { numFmt: '0.0' } : {},
    }));
    sheet.getRow(1).font = { bold: true };
    const dateColumns = table.columns.flatMap((c, i) => (c.kind === 'date' ? [i] : []));
    for (const row of table.rows) sheet.addRow(dateColumns.length ? row.map((v, i) => (dateColumns.includes(i) ? dateValue(v) : (v ?? null))) : row.map((v) => v ?? null));
    if (table.columns.length > 0) sheet.autoFilter = { from: { row: 1, column: 1 }, to: { row: 1, column: table.columns.length } };
  }
  return Buffer.from(await workbook.xlsx.writeBuffer());
}

/**
 * A school whose attendance can be worked out by hand, for the attendance range tests:
 * three periods, five classes, rooms with and without a camera, a chemistry lab with a
 * camera and a lab controller, and camera counts at known times over three weeks that cross
 * a month (Monday 2025-03-24 to Wednesday 2025-04-09). School "b" is the test district's
 * other school (another principal's).
 *
 * Timetable (Mondays and Wednesdays only; Tuesday is a day without lessons):
 *
 *   Monday    P1  6A1 p101 · 6A2 p102 · 7A1 p103 (no camera)     P2  6A1 lab-hoa · 6A2 p102
 *   Wednesday P1  6A1 p101 · 6A2 p102     P2  8A1 p104 (its camera never counts)     P3  6A2 lab-hoa
 *   9A9 has no lesson at all.
 *
 * Counts (attendancePct, two counts a lesson, each the same):
 *   6A1 (40 enrolled): 100 % in ISO week 13 (Mar 24-30), 95 % in week 14, 90 % in week 15;
 *   6A2 (30 enrolled):  70 % in week 13, 85 % in week 14, 90 % in week 15, except its lab
 *                       lesson on Wednesday Apr 9, which the lab camera did not count.
 *
 * Free periods of Monday Mar 24 and Wednesday Mar 26 (room usage): p101 Mon P2 empty,
 * Mon P3 occupied (2 people), Wed P2 not counted, Wed P3 empty; p102 Mon P3 not counted,
 * Wed P2 and P3 empty; lab-hoa Mon P1 and P3 empty, Wed P1 empty, Wed P2 occupied (3).
 * The lab controller reports every 5 minutes on Monday Mar 24 from 07:00 to 09:25, its
 * printer printing from 07:55 to 08:30 (in P2); on Wednesday it is silent.
 */
import type { Inventory, MetricValues } from '@schoolops/device-profiles';
import type { StoredRow } from '../../src/storage/types.ts';
import { testInventory } from './api-app.ts';

const subject = (vi: string, en: string) => ({ vi, en });
const MATHS = subject('Toán', 'Maths');
const LITERATURE = subject('Ngữ văn', 'Literature');
/** A comma and double quotes: the CSV must quote it. */
export const LAB_SUBJECT = subject('Khoa học tự nhiên, "thực hành"', 'Natural science, "practical"');

export const attendanceSchool: Inventory['schools'][number] = {
  id: 'a',
  name: { vi: 'Trường THCS Lê Lợi', en: 'Le Loi Lower Secondary School' },
  level: 'lower-secondary',
  ward: 'Phường 1',
  gatewayId: 'gw-a',
  rooms: [
    { id: 'p101', name: { vi: 'Phòng 101', en: 'Room 101' }, type: 'classroom', floor: 1, capacity: 45 },
    { id: 'p102', name: { vi: 'Phòng 102', en: 'Room 102' }, type: 'classroom', floor: 1, capacity: 45 },
    { id: 'p103', name: { vi: 'Phòng 103', en: 'Room 103' }, type: 'classroom', floor: 1, capacity: 45 },
    { id: 'p104', name: { vi: 'Phòng 104', en: 'Room 104' }, type: 'classroom', floor: 1, capacity: 45 },
    { id: 'lab-hoa', name: { vi: 'Phòng thí nghiệm Hoá học', en: 'Chemistry laboratory' }, type: 'lab', floor: 2, capacity: 44 },
    { id: 'thu-vien', name: { vi: 'Thư viện', en: 'Library' }, type: 'library', floor: 1, capacity: 60 },
  ],
  classes: [
    { id: '6a2', name: '6A2', grade: 6, enrolment: 30, homeRoomId: 'p102' },
    { id: '6a1', name: '6A1', grade: 6, enrolment: 40, homeRoomId: 'p101' },
    { id: '9a9', name: '9A9', grade: 9, enrolment: 25, homeRoomId: 'p101' },
    { id: '7a1', name: '7A1', grade: 7, enrolment: 36, homeRoomId: 'p103' },
    { id: '8a1', name: '8A1', grade: 8, enrolment: 35, homeRoomId: 'p104' },
  ],
  timetable: {
    periods: [
      { n: 1, start: '07:00', end: '07:45' },
      { n: 2, start: '07:50', end: '08:35' },
      { n: 3, start: '08:40', end: '09:25' },
    ],
    lessons: [
      { day: 1, period: 1, classId: '6a1', roomId: 'p101', subject: MATHS },
      { day: 1, period: 1, classId: '6a2', roomId: 'p102', subject: LITERATURE },
      { day: 1, period: 1, classId: '7a1', roomId: 'p103', subject: MATHS },
      { day: 1, period: 2, classId: '6a1', roomId: 'lab-hoa', subject: LAB_SUBJECT },
      { day: 1, period: 2, classId: '6a2', roomId: 'p102', subject: MATHS },
      { day: 3, period: 1, classId: '6a1', roomId: 'p101', subject: LITERATURE },
      { day: 3, period: 1, classId: '6a2', roomId: 'p102', subject: MATHS },
      { day: 3, period: 2, classId: '8a1', roomId: 'p104', subject: MATHS },
      { day: 3, period: 3, classId: '6a2', roomId: 'lab-hoa', subject: LAB_SUBJECT },
    ],
  },
  devices: [
    { id: 'a.p101.cam', profileId: 'hikvision-ds-2cd2143', roomId: 'p101' },
    { id: 'a.p101.proj', profileId: 'epson-eb-x51', roomId: 'p101' },
    { id: 'a.p102.cam', profileId: 'hikvision-ds-2cd2143', roomId: 'p102' },
    { id: 'a.p104.cam', profileId: 'hikvision-ds-2cd2143', roomId: 'p104' },
    { id: 'a.lab.cam', profileId: 'hikvision-ds-2cd2143', roomId: 'lab-hoa' },
    { id: 'a.lab.ctl', profileId: 'schoolops-lab-controller', roomId: 'lab-hoa' },
    // What the tenancy walk names: every route about a device uses "<school>.proj".
    { id: 'a.proj', profileId: 'epson-eb-x51', roomId: 'p101' },
  ],
};

/**
 * The tests' "now": the day after the last counts (Thursday 2025-04-10, 12:00 in Hanoi), so
 * every lesson of the data is over and none is still "later".
 */
export const AFTER_THE_DATA = Date.parse('2025-04-10T12:00:00+07:00');

/** The test district with school "a" replaced by this one. */
export const attendanceInventory: Inventory = {
  ...testInventory,
  schools: [attendanceSchool, ...testInventory.schools.filter((s) => s.id !== 'a')],
};

/** The instant of a local (Asia/Ho_Chi_Minh, UTC+7) date and time. */
export const at = (date: string, hhmm: string) => Date.parse(`${date}T${hhmm}:00+07:00`);

/** One sample of a device as the store keeps it: one row per metric. */
export function sample(deviceId: string, ts: number, values: MetricValues, schoolId = 'a'): StoredRow[] {
  return Object.entries(values).map(([metric, value]) => ({ schoolId, deviceId, metric, ts, value }));
}

const COUNT_TIMES: Record<number, [string, string]> = { 1: ['07:11', '07:34'], 2: ['08:01', '08:24'], 3: ['08:51', '09:14'] };
const CAMERA_OF: Record<string, string> = { p101: 'a.p101.cam', p102: 'a.p102.cam', 'lab-hoa': 'a.lab.cam' };
const ENROLLED: Record<string, number> = { '6a1': 40, '6a2': 30 };

/** A lesson count as the gateway sends it: people = students present + the teacher. */
function lessonCount(roomId: string, date: string, period: number, classId: string, pct: number): StoredRow[] {
  const enrolled = ENROLLED[classId]!;
  const headcount = Math.round((pct * enrolled) / 100) + 1;
  return COUNT_TIMES[period]!.flatMap((hhmm) =>
    sample(CAMERA_OF[roomId]!, at(date, hhmm), { reachable: true, headcount, occupied: true, classId, period, enrolled, attendancePct: pct }),
  );
}

const freeCount = (roomId: string, date: string, hhmm: string, headcount: number) => sample(CAMERA_OF[roomId]!, at(date, hhmm), { reachable: true, headcount, occupied: headcount > 0 });

export const WEEKS = [
  { monday: '2025-03-24', wednesday: '2025-03-26', a1: 100, a2: 70 },
  { monday: '2025-03-31', wednesday: '2025-04-02', a1: 95, a2: 85 },
  { monday: '2025-04-07', wednesday: '2025-04-09', a1: 90, a2: 90 },
] as const;

/** Every row of the scenario above, with a projector's readings in between (other devices share the table). */
export function attendanceRows(): StoredRow[] {
  const rows: StoredRow[] = [];
  for (const w of WEEKS) {
    rows.push(...lessonCount('p101', w.monday, 1, '6a1', w.a1), ...lessonCount('lab-hoa', w.monday, 2, '6a1', w.a1), ...lessonCount('p101', w.wednesday, 1, '6a1', w.a1));
    rows.push(...lessonCount('p102', w.monday, 1, '6a2', w.a2), ...lessonCount('p102', w.monday, 2, '6a2', w.a2), ...lessonCount('p102', w.wednesday, 1, '6a2', w.a2));
    if (w.wednesday !== '2025-04-09') rows.push(...lessonCount('lab-hoa', w.wednesday, 3, '6a2', w.a2));
  }
  const [mon, wed] = ['2025-03-24', '2025-03-26'];
  rows.push(...freeCount('p101', mon, '08:05', 0), ...freeCount('p101', mon, '08:20', 0), ...freeCount('p101', mon, '08:50', 2), ...freeCount('p101', wed, '09:00', 0));
  rows.push(...freeCount('p102', wed, '08:00', 0), ...freeCount('p102', wed, '08:55', 0));
  rows.push(...freeCount('lab-hoa', mon, '07:15', 0), ...freeCount('lab-hoa', mon, '09:00', 0), ...freeCount('lab-hoa', wed, '07:20', 0), ...freeCount('lab-hoa', wed, '08:10', 3));
  // Night counts and a count on the Tuesday: outside every period of a school day, so in no figure.
  rows.push(...freeCount('p101', mon, '22:00', 1), ...freeCount('p101', '2025-03-25', '07:20', 30));
  for (let minutes = 7 * 60; minutes <= 9 * 60 + 25; minutes += 5) {
    const hhmm = `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
    const printing = minutes >= 7 * 60 + 55 && minutes < 8 * 60 + 30;
    rows.push(...sample('a.lab.ctl', at(mon, hhmm), { roomTemperature: 25.5, printerState: printing ? 'printing' : 'idle' }));
    rows.push(...sample('a.p101.proj', at(mon, hhmm), { power: 'on', lampHours: 1200 + minutes }));
  }
  return rows;
}

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEVICE_KINDS, Inventory, check, isId, loadProfiles, type School } from '@schoolops/device-profiles';
import {
  BELL_SCHEDULE,
  MAX_ROOMS,
  MIN_ROOMS,
  currentLesson,
  generateDistrict,
  hhmmToMinutes,
  lessonsAt,
  localTime,
  slug,
} from '../src/district/index.ts';

const profiles = loadProfiles();
/** A few districts of different seeds and sizes, generated once for the whole file. */
const districts = [1, 2, 3, 2024].map((seed) => generateDistrict({ seed, schools: 10 }));
const allSchools: School[] = districts.flatMap((d) => d.schools);

const VIETNAMESE_LETTER = /[àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ]/i;

describe('generateDistrict', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    const digest = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex');
    const a = generateDistrict({ seed: 42, schools: 6 });
    expect(digest(generateDistrict({ seed: 42, schools: 6 }))).toBe(digest(a));
    expect(digest(generateDistrict({ seed: 43, schools: 6 }))).not.toBe(digest(a));
    // The first schools do not change when more are asked for.
    const more = generateDistrict({ seed: 42, schools: 9 });
    expect(digest(more.schools.slice(0, 6))).toBe(digest(a.schools));
  });

  it('passes the Inventory schema', () => {
    for (const district of districts) {
      const result = check(Inventory, district);
      expect(result.ok ? 'ok' : `${result.path}: ${result.message}`).toBe('ok');
    }
    expect(districts[0]!.district).toEqual({
      id: 'q-demo',
      name: { vi: 'Phòng GD&ĐT Quận Mẫu', en: 'Demo District Education Office' },
      timezone: 'Asia/Ho_Chi_Minh',
    });
  });

  it('gives every school 20-60 rooms, mostly classrooms, with the special rooms', () => {
    for (const school of allSchools) {
      expect(school.rooms.length, school.id).toBeGreaterThanOrEqual(MIN_ROOMS);
      expect(school.rooms.length, school.id).toBeLessThanOrEqual(MAX_ROOMS);
      const types = school.rooms.map((r) => r.type);
      expect(types.filter((t) => t === 'classroom').length / types.length).toBeGreaterThan(0.6);
      for (const t of ['lab', 'computer-lab', 'library', 'hall', 'server-room'] as const) expect(types, `${school.id} ${t}`).toContain(t);
      for (const room of school.rooms.filter((r) => r.type === 'classroom')) {
        expect(room.capacity).toBeGreaterThanOrEqual(40);
        expect(room.capacity).toBeLessThanOrEqual(48);
        expect(room.name.vi).toMatch(/^Phòng \d{3}$/);
        expect(room.name.en).toBe(room.name.vi.replace('Phòng', 'Room'));
        expect(Math.floor(Number(room.name.vi.slice(-3)) / 100)).toBe(room.floor);
      }
      const labs = school.rooms.filter((r) => r.type === 'lab').map((r) => r.name.vi);
      if (school.level === 'primary') expect(labs).toHaveLength(1);
      else expect(labs).toEqual(['Phòng thí nghiệm Vật lí', 'Phòng thí nghiệm Hoá học', 'Phòng thí nghiệm Sinh học']);
    }
  });

  it('names schools by level, in Vietnamese with diacritics and in English without', () => {
    const prefix = { primary: 'Trường Tiểu học ', 'lower-secondary': 'Trường THCS ', 'upper-secondary': 'Trường THPT ' };
    const suffix = { primary: ' Primary School', 'lower-secondary': ' Lower Secondary School', 'upper-secondary': ' Upper Secondary School' };
    for (const school of allSchools) {
      expect(school.name.vi.startsWith(prefix[school.level]), school.name.vi).toBe(true);
      expect(school.name.en.endsWith(suffix[school.level]), school.name.en).toBe(true);
      expect(school.name.vi).toMatch(VIETNAMESE_LETTER);
      expect(school.name.en).toMatch(/^[\x20-\x7e]+$/);
      // The ward in both languages: Vietnamese with its tone marks, English as English texts write it.
      expect(school.ward).toMatchObject({ vi: expect.stringMatching(/^Phường /), en: expect.stringMatching(/^[\x20-\x7e]+ Ward$/) });
      expect(school.gatewayId).toBe(`gw-${school.id}`);
    }
    // Namesakes keep their diacritics in Vietnamese (not just the word "Trường").
    const namesakes = allSchools.map((s) => s.name.vi.replace(prefix[s.level], ''));
    expect(namesakes.filter((n) => VIETNAMESE_LETTER.test(n)).length / namesakes.length).toBeGreaterThan(0.7);
    expect(slug('Trường THCS Lê Quý Đôn')).toBe('truong-thcs-le-quy-don');
    expect(new Set(allSchools.map((s) => s.level)).size).toBe(3);
  });

  it('keeps ids unique and URL-safe across the district, suffixing collisions', () => {
    const big = generateDistrict({ seed: 5, schools: 200 });
    expect(check(Inventory, big).ok).toBe(true);
    const schoolIds = big.schools.map((s) => s.id);
    expect(new Set(schoolIds).size).toBe(schoolIds.length);
    expect(new Set(big.schools.map((s) => s.gatewayId)).size).toBe(schoolIds.length);
    const deviceIds = big.schools.flatMap((s) => s.devices.map((d) => d.id));
    expect(new Set(deviceIds).size).toBe(deviceIds.length);
    for (const id of [...schoolIds, ...deviceIds]) expect(isId(id), id).toBe(true);
    // 200 schools is more than the namesakes list holds for one level: names come round with a number.
    expect(schoolIds.some((id) => /-\d+$/.test(id))).toBe(true);
    expect(schoolIds).toContain(slug(schoolIds[0]!));
  });

  it('installs all five device kinds in every school, projector and camera in every classroom', () => {
    for (const school of allSchools) {
      const kinds = new Set(school.devices.map((d) => profiles.get(d.profileId)?.kind));
      expect([...kinds].sort(), school.id).toEqual([...DEVICE_KINDS].sort());
      const roomIds = new Set(school.rooms.map((r) => r.id));
      for (const d of school.devices) {
        expect(roomIds.has(d.roomId), d.id).toBe(true);
        expect(d.id.startsWith(`${school.id}.${d.roomId}.`)).toBe(true);
      }
      const classrooms = school.rooms.filter((r) => r.type === 'classroom');
      const inRoom = (roomId: string, profileId: string) => school.devices.some((d) => d.roomId === roomId && d.profileId === profileId);
      for (const room of classrooms) {
        expect(inRoom(room.id, 'epson-eb-x51') || inRoom(room.id, 'panasonic-pt-tmz400'), room.id).toBe(true);
        expect(inRoom(room.id, 'hikvision-ds-2cd2143'), room.id).toBe(true);
      }
      const boards = classrooms.filter((r) => inRoom(r.id, 'promethean-activpanel-9')).length;
      expect(boards / classrooms.length).toBeGreaterThan(0.25);
      expect(boards / classrooms.length).toBeLessThan(0.42);
      // A fifth of the projectors are laser units (PJLink class 2).
      const lasers = school.devices.filter((d) => d.profileId === 'panasonic-pt-tmz400').length;
      const projectors = school.devices.filter((d) => profiles.get(d.profileId)?.kind === 'display').length;
      expect(lasers).toBe(Math.floor(projectors / 5));
      for (const lab of school.rooms.filter((r) => r.type === 'lab')) expect(inRoom(lab.id, 'schoolops-lab-controller')).toBe(true);
      expect(school.devices.filter((d) => d.profileId === 'mikrotik-hex-s')).toHaveLength(1);
      expect(school.devices.filter((d) => d.profileId === 'schoolops-link-probe')).toHaveLength(1);
      const projector = school.devices.find((d) => d.profileId === 'epson-eb-x51')!;
      expect(projector.address?.port).toBe(4352);
      expect(projector.address?.host).toMatch(/^10\.\d+\.\d+\.\d+$/);
      // No two devices of a school share an address.
      const hosts = school.devices.map((d) => d.address?.host);
      expect(new Set(hosts).size).toBe(hosts.length);
    }
  });

  it('gives classes by grade for the level, 30-45 students, each its own home classroom', () => {
    const grades = { primary: [1, 5], 'lower-secondary': [6, 9], 'upper-secondary': [10, 12] } as const;
    for (const school of allSchools) {
      const homes = school.classes.map((c) => c.homeRoomId);
      expect(new Set(homes).size).toBe(homes.length);
      const [lo, hi] = grades[school.level];
      expect(new Set(school.classes.map((c) => c.grade))).toEqual(new Set(Array.from({ length: hi - lo + 1 }, (_, i) => lo + i)));
      for (const c of school.classes) {
        expect(c.name).toMatch(new RegExp(`^${c.grade}A\\d+$`));
        expect(c.enrolment).toBeGreaterThanOrEqual(30);
        expect(c.enrolment).toBeLessThanOrEqual(45);
        const home = school.rooms.find((r) => r.id === c.homeRoomId);
        expect(home?.type).toBe('classroom');
        expect(c.enrolment).toBeLessThanOrEqual(home!.capacity);
      }
    }
  });
});

describe('timetable', () => {
  it('follows the Vietnamese bell schedule', () => {
    const p = BELL_SCHEDULE;
    expect(p[0]).toEqual({ n: 1, start: '07:00', end: '07:45' });
    expect(p.find((x) => x.n === 6)?.start).toBe('13:30');
    for (const period of p) expect(hhmmToMinutes(period.end) - hhmmToMinutes(period.start)).toBe(45);
    const gap = (a: number) => hhmmToMinutes(p[a + 1]!.start) - hhmmToMinutes(p[a]!.end);
    expect(gap(0)).toBe(5); // after period 1
    expect(gap(1)).toBeGreaterThan(5); // the long break after period 2
    expect(gap(2)).toBe(5);
  });

  it('never double-books a room or a class, and only uses known rooms, classes and periods', () => {
    const problems: string[] = [];
    let checked = 0;
    for (const school of allSchools) {
      const rooms = new Set<string>();
      const classes = new Set<string>();
      const periods = new Set(school.timetable.periods.map((p) => p.n));
      const roomIds = new Set(school.rooms.map((r) => r.id));
      const classIds = new Set(school.classes.map((c) => c.id));
      for (const l of school.timetable.lessons) {
        const slot = `${l.day}/${l.period}`;
        if (rooms.has(`${l.roomId}@${slot}`)) problems.push(`${school.id}: room ${l.roomId} twice in ${slot}`);
        if (classes.has(`${l.classId}@${slot}`)) problems.push(`${school.id}: class ${l.classId} twice in ${slot}`);
        rooms.add(`${l.roomId}@${slot}`);
        classes.add(`${l.classId}@${slot}`);
        if (!periods.has(l.period)) problems.push(`${school.id}: unknown period ${l.period}`);
        if (!roomIds.has(l.roomId)) problems.push(`${school.id}: unknown room ${l.roomId}`);
        if (!classIds.has(l.classId)) problems.push(`${school.id}: unknown class ${l.classId}`);
        if (l.day < 1 || l.day > 6) problems.push(`${school.id}: lesson on day ${l.day}`);
        checked++;
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(20_000);
  });

  it('keeps each class in its home room most periods and sends it to labs sometimes', () => {
    for (const school of allSchools) {
      const lessons = school.timetable.lessons;
      for (const c of school.classes) {
        const own = lessons.filter((l) => l.classId === c.id);
        expect(own.length, c.id).toBeGreaterThanOrEqual(25);
        expect(own.length, c.id).toBeLessThanOrEqual(35);
        expect(own.filter((l) => l.roomId === c.homeRoomId).length / own.length).toBeGreaterThan(0.65);
        // Nobody else is ever taught in this class's home room.
        expect(lessons.filter((l) => l.roomId === c.homeRoomId && l.classId !== c.id)).toEqual([]);
      }
      const labIds = new Set(school.rooms.filter((r) => r.type === 'lab' || r.type === 'computer-lab').map((r) => r.id));
      expect(lessons.filter((l) => labIds.has(l.roomId)).length, school.id).toBeGreaterThan(10);
      const days = new Set(lessons.map((l) => l.day));
      expect(days.has(7)).toBe(false);
      if (school.level !== 'primary') expect(days.has(6)).toBe(true);
    }
    const subjects = new Set(allSchools.flatMap((s) => s.timetable.lessons.map((l) => `${l.subject.vi}/${l.subject.en}`)));
    for (const expected of ['Toán/Mathematics', 'Ngữ văn/Literature', 'Tiếng Anh/English', 'Vật lí/Physics', 'Hoá học/Chemistry', 'Sinh học/Biology', 'Tin học/Informatics', 'Lịch sử/History', 'Địa lí/Geography'])
      expect(subjects.has(expected), expected).toBe(true);
    // Lab subjects only ever leave the home room for the matching lab.
    for (const school of allSchools) {
      for (const l of school.timetable.lessons.filter((x) => x.roomId.startsWith('lab-chemistry'))) expect(l.subject.en).toBe('Chemistry');
    }
  });
});

describe('school time', () => {
  const school = allSchools.find((s) => s.level === 'lower-secondary')!;

  it('reads Asia/Ho_Chi_Minh wall-clock time whatever the machine TZ', () => {
    // 23:30 UTC on Sunday is 06:30 on Monday in Vietnam (UTC+7).
    expect(localTime(new Date('2025-03-09T23:30:00Z'))).toMatchObject({ day: 1, minutes: 390, date: '2025-03-10' });
    expect(localTime(new Date('2025-03-15T16:59:00Z'))).toMatchObject({ day: 6, date: '2025-03-15' });
    expect(localTime(new Date('2025-03-15T17:00:00Z'))).toMatchObject({ day: 7, minutes: 0, date: '2025-03-16' });
  });

  it('finds the lessons running at an instant', () => {
    // Monday 07:10 in Hanoi/Ho Chi Minh City is still Sunday in UTC.
    const monday0710 = new Date('2025-03-10T00:10:00Z');
    const running = lessonsAt(school, monday0710);
    const expected = school.timetable.lessons.filter((l) => l.day === 1 && l.period === 1);
    expect(running.length).toBeGreaterThan(0);
    expect(running).toEqual(expected);
    const one = expected[0]!;
    expect(currentLesson(school, one.roomId, monday0710)).toEqual(one);
    // Between periods, at lunch, at night and on Sunday: nothing.
    expect(lessonsAt(school, new Date('2025-03-10T00:47:00Z'))).toEqual([]); // 07:47
    expect(lessonsAt(school, new Date('2025-03-10T05:00:00Z'))).toEqual([]); // 12:00
    expect(lessonsAt(school, new Date('2025-03-10T15:00:00Z'))).toEqual([]); // 22:00
    expect(lessonsAt(school, new Date('2025-03-16T02:00:00Z'))).toEqual([]); // Sunday 09:00
    // Period 3 begins at 08:55 after the long break.
    const p3 = school.timetable.lessons.filter((l) => l.day === 2 && l.period === 3);
    expect(lessonsAt(school, new Date('2025-03-11T01:55:00Z'))).toEqual(p3);
    expect(lessonsAt(school, new Date('2025-03-11T01:54:59Z'))).toEqual([]);
    expect(currentLesson(school, 'server-room', new Date('2025-03-11T01:55:00Z'))).toBeUndefined();
  });
});

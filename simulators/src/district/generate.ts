/**
 * The simulated district: schools with rooms, classes, a week's timetable and devices,
 * all drawn from one seed. The result is the district's digital record (Inventory) that
 * the cloud, the edge agents and the device simulators all read.
 */
import {
  type DeviceRecord,
  type Inventory,
  type LocalizedText,
  type Room,
  type School,
  type SchoolClass,
} from '@schoolops/device-profiles';
import { LEVELS, NAMESAKES, WARDS, slug, withoutDiacritics, type SchoolLevel, type SpecialRoom } from './names.ts';
import { deriveRng, intBetween, pick, pickWeighted, shuffled, type Rng } from './random.ts';
import { DISTRICT_TIMEZONE } from '@schoolops/device-profiles';
import { buildTimetable } from './timetable.ts';

/** Profile ids of the devices the generator installs (files in device-profiles/profiles). */
export const PROFILE_IDS = {
  projector: 'epson-eb-x51',
  /** Newer rooms: a laser projector that also answers PJLink class 2. */
  laserProjector: 'panasonic-pt-tmz400',
  camera: 'hikvision-ds-2cd2143',
  board: 'promethean-activpanel-9',
  lab: 'schoolops-lab-controller',
  router: 'mikrotik-hex-s',
  linkProbe: 'schoolops-link-probe',
} as const;

export const MIN_ROOMS = 20;
export const MAX_ROOMS = 60;

export interface DistrictOptions {
  seed: number;
  schools: number;
}

export const DEMO_DISTRICT = {
  id: 'q-demo',
  name: { vi: 'Phòng GD&ĐT Quận Mẫu', en: 'Demo District Education Office' },
  timezone: DISTRICT_TIMEZONE,
} as const;

export function generateDistrict(options: DistrictOptions): Inventory {
  const { seed } = options;
  if (!Number.isInteger(options.schools) || options.schools < 0) throw new RangeError(`schools must be a whole number >= 0, got ${options.schools}`);
  // Independent streams for each decision, so asking for more schools leaves the first ones unchanged.
  const levels = schoolLevels(deriveRng(seed, 'levels'), options.schools);
  const pools: Record<SchoolLevel, string[]> = {
    primary: shuffled(deriveRng(seed, 'names', 'primary'), NAMESAKES),
    'lower-secondary': shuffled(deriveRng(seed, 'names', 'lower-secondary'), NAMESAKES),
    'upper-secondary': shuffled(deriveRng(seed, 'names', 'upper-secondary'), NAMESAKES),
  };
  const ofLevel: Record<SchoolLevel, number> = { primary: 0, 'lower-secondary': 0, 'upper-secondary': 0 };
  const taken = new Set<string>();
  const schools = levels.map((level, index) => {
    const k = ofLevel[level]++;
    const pool = pools[level];
    // Past the end of the list, names come round again with a number: "... Lê Lợi 2".
    const round = Math.floor(k / pool.length);
    const namesake = pool[k % pool.length]! + (round > 0 ? ` ${round + 1}` : '');
    return generateSchool(deriveRng(seed, 'school', index), {
      index,
      level,
      namesake,
      ward: pick(deriveRng(seed, 'ward', index), WARDS),
      taken,
    });
  });
  return { v: 1, district: { ...DEMO_DISTRICT, name: { ...DEMO_DISTRICT.name } }, schools };
}

/** One school of each level first (so even a small demo has all three), then a realistic mix. */
function schoolLevels(rng: Rng, count: number): SchoolLevel[] {
  const firstThree = shuffled(rng, ['primary', 'lower-secondary', 'upper-secondary'] as const);
  return Array.from({ length: count }, (_, i) =>
    i < firstThree.length
      ? firstThree[i]!
      : pickWeighted<SchoolLevel>(rng, [
          ['primary', 0.45],
          ['lower-secondary', 0.33],
          ['upper-secondary', 0.22],
        ]),
  );
}

function uniqueId(base: string, taken: Set<string>): string {
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
  taken.add(id);
  return id;
}

interface SchoolSeed {
  index: number;
  level: SchoolLevel;
  namesake: string;
  ward: LocalizedText;
  taken: Set<string>;
}

const CLASSES_PER_GRADE: Record<SchoolLevel, [number, number]> = {
  primary: [3, 8],
  'lower-secondary': [4, 10],
  'upper-secondary': [5, 12],
};

/** Every kind of specialised room, with its type and Vietnamese/English name. */
const SPECIAL_ROOMS: Record<SpecialRoom, { idBase: string; type: Room['type']; name: LocalizedText }> = {
  physics: { idBase: 'lab-physics', type: 'lab', name: { vi: 'Phòng thí nghiệm Vật lí', en: 'Physics laboratory' } },
  chemistry: { idBase: 'lab-chemistry', type: 'lab', name: { vi: 'Phòng thí nghiệm Hoá học', en: 'Chemistry laboratory' } },
  biology: { idBase: 'lab-biology', type: 'lab', name: { vi: 'Phòng thí nghiệm Sinh học', en: 'Biology laboratory' } },
  science: { idBase: 'lab-science', type: 'lab', name: { vi: 'Phòng học bộ môn Khoa học - Công nghệ', en: 'Science and technology room' } },
  computer: { idBase: 'computer-lab', type: 'computer-lab', name: { vi: 'Phòng Tin học', en: 'Computer lab' } },
};

function generateSchool(rng: Rng, seed: SchoolSeed): School {
  const level = LEVELS[seed.level];
  const id = uniqueId(`${level.idPrefix}-${slug(seed.namesake)}`, seed.taken);

  // How many classes, then how many classrooms: within the 20-60 room budget.
  const labKinds: SpecialRoom[] = seed.level === 'primary' ? ['science'] : ['physics', 'chemistry', 'biology'];
  const [minPerGrade, maxPerGrade] = CLASSES_PER_GRADE[seed.level];
  let perGrade = level.grades.map(() => intBetween(rng, minPerGrade, maxPerGrade));
  const classCount = () => perGrade.reduce((a, b) => a + b, 0);
  const computerLabs = () => Math.max(1, Math.ceil(classCount() / 20));
  const fixedRooms = () => labKinds.length + computerLabs() + 4; // + library, hall, office, server room
  while (classCount() + fixedRooms() > MAX_ROOMS) {
    const largest = perGrade.indexOf(Math.max(...perGrade));
    perGrade = perGrade.map((n, i) => (i === largest ? n - 1 : n));
  }
  const spare = Math.max(MIN_ROOMS - classCount() - fixedRooms(), Math.min(intBetween(rng, 0, 2), MAX_ROOMS - classCount() - fixedRooms()));
  const classroomCount = classCount() + spare;

  // Classrooms fill floors from the ground up: Phòng 101, 102, ... 201, ...
  const perFloor = intBetween(rng, 8, 10);
  const rooms: Room[] = [];
  for (let i = 0; i < classroomCount; i++) {
    const floor = 1 + Math.floor(i / perFloor);
    const number = floor * 100 + (i % perFloor) + 1;
    rooms.push({
      id: `r${number}`,
      name: { vi: `Phòng ${number}`, en: `Room ${number}` },
      type: 'classroom',
      floor,
      capacity: intBetween(rng, 40, 48),
    });
  }
  const topFloor = 1 + Math.floor((classroomCount - 1) / perFloor);
  const special = (room: Omit<Room, 'capacity'>, capacity: number) => rooms.push({ ...room, capacity });
  special({ id: 'office', name: { vi: 'Văn phòng nhà trường', en: 'School office' }, type: 'office', floor: 1 }, intBetween(rng, 8, 15));
  special({ id: 'server-room', name: { vi: 'Phòng máy chủ', en: 'Server room' }, type: 'server-room', floor: 1 }, 2);
  special({ id: 'hall', name: { vi: 'Hội trường', en: 'Assembly hall' }, type: 'hall', floor: 1 }, intBetween(rng, 15, 40) * 10);
  special({ id: 'library', name: { vi: 'Thư viện', en: 'Library' }, type: 'library', floor: Math.min(2, topFloor) }, intBetween(rng, 40, 80));
  // Specialised rooms share the top floor ("khu phòng bộ môn").
  const specialRooms: Partial<Record<SpecialRoom, string[]>> = {};
  const addSpecial = (kind: SpecialRoom, n: number, of: number) => {
    const def = SPECIAL_ROOMS[kind];
    const roomId = of > 1 ? `${def.idBase}-${n}` : def.idBase;
    const name = of > 1 ? { vi: `${def.name.vi} ${n}`, en: `${def.name.en} ${n}` } : { ...def.name };
    special({ id: roomId, name, type: def.type, floor: topFloor + 1 }, intBetween(rng, 40, 48));
    (specialRooms[kind] ??= []).push(roomId);
  };
  for (const kind of labKinds) addSpecial(kind, 1, 1);
  for (let n = 1; n <= computerLabs(); n++) addSpecial('computer', n, computerLabs());

  // Classes by grade, lower grades on lower floors, each with its own home classroom.
  const classes: SchoolClass[] = [];
  level.grades.forEach((grade, g) => {
    for (let k = 1; k <= perGrade[g]!; k++) {
      const home = rooms[classes.length]!;
      classes.push({
        id: `${grade}a${k}`,
        name: `${grade}A${k}`,
        grade,
        enrolment: Math.min(home.capacity, intBetween(rng, 30, 45)),
        homeRoomId: home.id,
      });
    }
  });

  const timetable = buildTimetable(rng, { level: seed.level, classes, specialRooms });
  return {
    id,
    name: {
      vi: `${level.vi} ${seed.namesake}`,
      en: `${withoutDiacritics(seed.namesake)} ${level.en}`,
    },
    level: seed.level,
    ward: seed.ward,
    gatewayId: `gw-${id}`,
    rooms,
    classes,
    timetable,
    devices: installDevices(rng, id, seed.index, rooms),
  };
}

const DEVICE_NAMES = {
  proj: { vi: 'Máy chiếu', en: 'Projector' },
  cam: { vi: 'Camera', en: 'Camera' },
  board: { vi: 'Bảng tương tác', en: 'Interactive board' },
  lab: { vi: 'Bộ điều khiển phòng thí nghiệm', en: 'Lab controller' },
  router: { vi: 'Bộ định tuyến', en: 'Router' },
  probe: { vi: 'Đo đường truyền', en: 'Link probe' },
} as const;

/**
 * The school's equipment. Every classroom has a projector and a camera, about a third an
 * interactive board; labs a lab controller, projector and camera; computer labs a
 * projector and camera; the hall a projector; the server room the router and link probe.
 * Addresses follow a plan an installer could use: 10.<school>.<floor>.<host>, with
 * network equipment on 10.<school>.0.x.
 */
function installDevices(rng: Rng, schoolId: string, schoolIndex: number, rooms: Room[]): DeviceRecord[] {
  const net = `10.${(schoolIndex % 254) + 1}`;
  const nextHost = new Map<number, number>();
  const host = (floor: number) => {
    const h = nextHost.get(floor) ?? 11;
    nextHost.set(floor, h + 1);
    return `${net}.${floor}.${h}`;
  };
  const classrooms = rooms.filter((r) => r.type === 'classroom');
  const withBoard = new Set(shuffled(rng, classrooms).slice(0, Math.round(classrooms.length / 3)).map((r) => r.id));
  const devices: DeviceRecord[] = [];
  const add = (room: Room, suffix: keyof typeof DEVICE_NAMES, profileId: string, address: DeviceRecord['address']) => {
    const name = DEVICE_NAMES[suffix];
    devices.push({
      id: `${schoolId}.${room.id}.${suffix}`,
      profileId,
      roomId: room.id,
      name: { vi: `${name.vi} ${room.name.vi}`, en: `${name.en}, ${room.name.en}` },
      address,
    });
  };
  // Every fifth projector has been replaced by a laser unit (no lamp to change, PJLink class 2).
  let projectors = 0;
  const projector = (room: Room) =>
    add(room, 'proj', ++projectors % 5 === 0 ? PROFILE_IDS.laserProjector : PROFILE_IDS.projector, { host: host(room.floor), port: 4352 });
  const camera = (room: Room) => {
    const h = host(room.floor);
    add(room, 'cam', PROFILE_IDS.camera, { host: h, port: 80, url: `http://${h}/ISAPI/Streaming/channels/101/picture` });
  };
  for (const room of rooms) {
    switch (room.type) {
      case 'classroom':
        projector(room);
        camera(room);
        if (withBoard.has(room.id)) add(room, 'board', PROFILE_IDS.board, { host: host(room.floor) });
        break;
      case 'lab': {
        const h = host(room.floor);
        add(room, 'lab', PROFILE_IDS.lab, { host: h, port: 4840, url: `opc.tcp://${h}:4840` });
        projector(room);
        camera(room);
        break;
      }
      case 'computer-lab':
        projector(room);
        camera(room);
        break;
      case 'hall':
        projector(room);
        break;
      case 'server-room':
        // ifIndex 1 is the hEX S's ether1, the WAN port by MikroTik's default configuration.
        add(room, 'router', PROFILE_IDS.router, { host: `${net}.0.1`, port: 161, ifIndex: 1 });
        add(room, 'probe', PROFILE_IDS.linkProbe, { host: `${net}.0.2`, url: 'https://moet.gov.vn/' });
        break;
      default:
        break;
    }
  }
  return devices;
}

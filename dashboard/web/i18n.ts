// UI strings, Vietnamese first. The English table must have exactly the same keys.

export type Lang = 'vi' | 'en';
export const LANGS: readonly Lang[] = ['vi', 'en'];

/** BCP 47 locale used for numbers and collation in each UI language. */
export const LOCALE: Record<Lang, string> = { vi: 'vi-VN', en: 'en-GB' };

const vi = {
  appTitle: 'SchoolOps — Trung tâm điều hành',
  pageTitle: (district: string) => `${district} · SchoolOps — Trung tâm điều hành`,
  districtLoading: 'Đang tải thông tin quận/huyện…',
  overview: 'Tổng quan các trường',
  language: 'Ngôn ngữ',
  clockLabel: 'Giờ Việt Nam',
  connConnecting: 'Đang kết nối…',
  connLive: 'Trực tiếp',
  connReconnecting: 'Mất kết nối, đang thử lại…',
  staleBanner: 'Mất kết nối tới máy chủ trung tâm — số liệu dưới đây có thể đã cũ. Đang thử kết nối lại…',
  loadError: 'Không tải được danh sách trường. Sẽ thử lại sau ít giây.',
  loading: 'Đang tải danh sách trường…',
  empty: 'Chưa có trường nào được đăng ký.',
  tableCaption: 'Tình trạng trực tiếp của các trường. Trường ngoại tuyến được xếp trước, sau đó theo tên.',

  colSchool: 'Trường',
  colStatus: 'Trạng thái',
  colLastSeen: 'Lần cuối',
  colDevices: 'Thiết bị',
  colDevicesHint: 'Thiết bị đang báo cáo / tổng số thiết bị',
  colInternetIn: 'Internet vào',
  colInternetOut: 'Internet ra',
  colLatency: 'Độ trễ',
  colLatencyHint: 'Độ trễ đường truyền internet (mili giây) và tỉ lệ mất gói',
  colProjectors: 'Máy chiếu bật',
  colBoards: 'Bảng đang dạy',
  colBoardsHint: 'Bảng tương tác đang trong tiết học',
  colHeadcount: 'Số người',
  colHeadcountHint: 'Số người đếm được qua camera lớp học',
  colLabTemp: 'Nhiệt độ PTN',
  colLabTempHint: 'Nhiệt độ trung bình các phòng thí nghiệm',

  online: 'Trực tuyến',
  offline: 'Ngoại tuyến',
  never: 'Chưa từng',
  justNow: 'vừa xong',
  minutesAgo: (n: number) => `${n} phút trước`,
  hoursAgo: (n: number) => `${n} giờ trước`,
  daysAgo: (n: number) => `${n} ngày trước`,
  loss: (pct: string) => `mất gói ${pct}`,
  rejected: (n: string) => `${n} bị từ chối`,
  rejectedHint: 'Số đo bị từ chối vì không hợp lệ theo hồ sơ thiết bị',
  problems: (n: string) => `${n} mất kết nối/lỗi`,
  problemsHint: 'Thiết bị mà gateway không kết nối được hoặc trả lời sai (sai mật khẩu, dữ liệu hỏng)',
  alarms: (n: string) => `${n} cảnh báo`,
  alarmsHint: (critical: string, warning: string) => `${critical} nghiêm trọng, ${warning} cảnh báo (theo quy tắc trong hồ sơ thiết bị)`,
  devicesReporting: (reporting: string, total: string) => `${reporting}/${total} thiết bị đang báo cáo`,

  level: {
    primary: 'Tiểu học',
    'lower-secondary': 'THCS',
    'upper-secondary': 'THPT',
  } as Record<string, string>,

  kpiOnline: 'Trường trực tuyến',
  kpiOffline: 'Trường ngoại tuyến',
  kpiDevices: 'Thiết bị báo cáo',
  kpiHeadcount: 'Số người hiện diện',
  kpiInternetIn: 'Tổng lưu lượng vào',

  // ---- one school's devices ----
  openSchoolHint: (name: string) => `Xem thiết bị của ${name}`,
  backToOverview: 'Tổng quan các trường',
  schoolPageTitle: (school: string) => `${school} · Thiết bị · SchoolOps`,
  schoolDevicesLoading: 'Đang tải danh sách thiết bị…',
  schoolDevicesError: 'Không tải được danh sách thiết bị. Sẽ thử lại sau ít giây; số liệu dưới đây có thể đã cũ.',
  schoolNotFound: (id: string) => `Không tìm thấy trường “${id}”.`,
  schoolNoDevices: 'Trường này chưa có thiết bị nào được đăng ký.',
  countDevices: 'Thiết bị',
  countProblems: 'Có sự cố',
  countProblemsHint: 'Thiết bị mất kết nối, bị lỗi, ngừng báo cáo hoặc chưa từng báo cáo',
  countAlarms: 'Cảnh báo',
  updatedAt: (time: string) => `Cập nhật lúc ${time}`,
  deviceAlarms: (_n: number, formatted: string) => `${formatted} cảnh báo`,
  alarmsHeading: 'Cảnh báo đang bật',
  attendanceHeading: 'Điểm danh hôm nay',
  attendanceNote: 'Tỉ lệ học sinh có mặt theo từng tiết: số người camera lớp học đếm trên máy chủ của trường (không hình ảnh nào rời trường), trừ giáo viên, so với sĩ số. Di chuột vào ô để xem phòng và số học sinh.',
  attendanceClass: 'Lớp',
  attendancePeriod: (n: string) => `Tiết ${n}`,
  attendanceNotCounted: 'chưa đếm',
  attendanceNoLessons: 'Hôm nay không có tiết học.',
  attendanceLow: 'thấp',
  alarmsNone: 'Không có cảnh báo nào.',
  since: (ago: string) => `từ ${ago}`,
  devicesHeading: 'Thiết bị theo loại',
  colDevice: 'Thiết bị',
  colValues: 'Số liệu chính',
  colUpdated: 'Cập nhật',
  noReadings: 'Chưa có số liệu',
  moreValues: (n: number) => `+${n} số liệu khác`,
  yes: 'có',
  no: 'không',

  kind: {
    display: 'Máy chiếu / Màn hình',
    'interactive-board': 'Bảng tương tác',
    camera: 'Camera lớp học',
    network: 'Mạng & Internet',
    lab: 'Phòng thí nghiệm',
  } as Record<string, string>,
  otherKind: (kind: string) => `Thiết bị khác (${kind})`,

  severity: {
    critical: 'Nghiêm trọng',
    warning: 'Cảnh báo',
    info: 'Thông tin',
  } as Record<string, string>,

  deviceState: {
    ok: 'Hoạt động tốt',
    unreachable: 'Mất kết nối',
    faulty: 'Bị lỗi',
    silent: 'Ngừng báo cáo',
    unknown: 'Chưa rõ',
  } as Record<string, string>,
  deviceStateHint: {
    ok: 'Thiết bị trả lời và gửi số liệu đều đặn',
    unreachable: 'Gateway của trường không kết nối được tới thiết bị',
    faulty: 'Thiết bị có trả lời nhưng trả lời sai',
    silent: 'Đã lâu không nhận được số liệu nào từ thiết bị',
    unknown: 'Chưa từng nhận được số liệu từ thiết bị',
  } as Record<string, string>,
  reason: {
    refused: 'Thiết bị từ chối kết nối',
    timeout: 'Thiết bị không phản hồi (quá thời gian chờ)',
    no_route: 'Không có đường mạng tới thiết bị',
    closed: 'Kết nối bị ngắt giữa chừng',
    auth_failed: 'Sai mật khẩu/thông tin xác thực',
    protocol_error: 'Thiết bị trả lời sai giao thức (dữ liệu hỏng)',
    device_error: 'Thiết bị tự báo lỗi',
  } as Record<string, string>,

  metric: {
    power: 'Nguồn',
    lampHours: 'Giờ đèn',
    errorFan: 'Quạt',
    errorLamp: 'Bóng đèn',
    errorTemperature: 'Nhiệt độ',
    errorCover: 'Nắp máy',
    errorFilter: 'Lưới lọc',
    errorOther: 'Lỗi khác',
    linkUp: 'Cổng WAN',
    inBps: 'Vào',
    outBps: 'Ra',
    utilisationIn: 'Sử dụng (vào)',
    utilisationOut: 'Sử dụng (ra)',
    uptimeS: 'Thời gian hoạt động',
    wanUp: 'Internet',
    latencyMs: 'Độ trễ',
    lossPct: 'Mất gói',
    jitterMs: 'Jitter',
    dnsMs: 'DNS',
    httpOk: 'Dịch vụ trực tuyến',
    roomTemperature: 'Nhiệt độ phòng',
    humidity: 'Độ ẩm',
    fumeHoodAirflow: 'Tủ hút',
    fridgeTemperature: 'Tủ lạnh hoá chất',
    printerState: 'Máy in 3D',
    sessionActive: 'Tiết học',
    appInUse: 'Ứng dụng',
    temperature: 'Nhiệt độ',
    freeStorageMb: 'Bộ nhớ trống',
    reachable: 'Kết nối',
    headcount: 'Số người',
  } as Record<string, string>,
  word: {
    on: 'Bật',
    off: 'Tắt',
    cooling: 'Đang làm mát',
    warming: 'Đang khởi động',
    warning: 'Cảnh báo',
    error: 'Lỗi',
    up: 'Có kết nối',
    down: 'Mất kết nối',
    linkDown: 'Mất tín hiệu',
    servicesOk: 'Truy cập được',
    servicesDown: 'Không truy cập được',
    idle: 'Rảnh',
    printing: 'Đang in',
    offline: 'Ngoại tuyến',
    inSession: 'Đang dạy',
    noSession: 'Không',
    none: 'không có',
    unreachable: 'Không truy cập được',
  } as Record<string, string>,
  unit: { day: 'ngày', hour: 'giờ', minute: 'phút', second: 'giây', hours: 'giờ' } as Record<string, string>,

  announceOffline: (name: string) => `${name}: mất kết nối.`,
  announceOnline: (name: string) => `${name}: đã kết nối lại.`,
  announceManyOffline: (n: number) => `${n} trường vừa mất kết nối.`,
  announceManyOnline: (n: number) => `${n} trường vừa kết nối lại.`,
};

export type Strings = typeof vi;

const en: Strings = {
  appTitle: 'SchoolOps — Operations Center',
  pageTitle: (district: string) => `${district} · SchoolOps — Operations Center`,
  districtLoading: 'Loading district…',
  overview: 'Schools overview',
  language: 'Language',
  clockLabel: 'Vietnam time',
  connConnecting: 'Connecting…',
  connLive: 'Live',
  connReconnecting: 'Connection lost, retrying…',
  staleBanner: 'Lost connection to the district server — figures below may be out of date. Reconnecting…',
  loadError: 'Could not load the school list. Retrying in a few seconds.',
  loading: 'Loading schools…',
  empty: 'No schools registered yet.',
  tableCaption: 'Live status of every school. Offline schools first, then by name.',

  colSchool: 'School',
  colStatus: 'Status',
  colLastSeen: 'Last seen',
  colDevices: 'Devices',
  colDevicesHint: 'Devices reporting / total devices',
  colInternetIn: 'Internet in',
  colInternetOut: 'Internet out',
  colLatency: 'Latency',
  colLatencyHint: 'Internet link latency (milliseconds) and packet loss',
  colProjectors: 'Projectors on',
  colBoards: 'Boards in use',
  colBoardsHint: 'Interactive boards in a class session',
  colHeadcount: 'Headcount',
  colHeadcountHint: 'People counted by classroom cameras',
  colLabTemp: 'Lab temp.',
  colLabTempHint: 'Average temperature of the labs',

  online: 'Online',
  offline: 'Offline',
  never: 'Never',
  justNow: 'just now',
  minutesAgo: (n: number) => `${n} min ago`,
  hoursAgo: (n: number) => (n === 1 ? '1 hour ago' : `${n} hours ago`),
  daysAgo: (n: number) => (n === 1 ? '1 day ago' : `${n} days ago`),
  loss: (pct: string) => `loss ${pct}`,
  rejected: (n: string) => `${n} rejected`,
  rejectedHint: 'Readings rejected as invalid against the device profile',
  problems: (n: string) => `${n} unreachable/faulty`,
  problemsHint: 'Devices the gateway cannot reach, or that answer wrongly (bad password, garbage)',
  alarms: (n: string) => `${n} ${n === '1' ? 'alarm' : 'alarms'}`,
  alarmsHint: (critical: string, warning: string) => `${critical} critical, ${warning} warnings (from the device profiles' health rules)`,
  devicesReporting: (reporting: string, total: string) => `${reporting} of ${total} devices reporting`,

  level: {
    primary: 'Primary',
    'lower-secondary': 'Lower secondary',
    'upper-secondary': 'Upper secondary',
  },

  kpiOnline: 'Schools online',
  kpiOffline: 'Schools offline',
  kpiDevices: 'Devices reporting',
  kpiHeadcount: 'People present',
  kpiInternetIn: 'Total internet in',

  // ---- one school's devices ----
  openSchoolHint: (name: string) => `Show the devices of ${name}`,
  backToOverview: 'Schools overview',
  schoolPageTitle: (school: string) => `${school} · Devices · SchoolOps`,
  schoolDevicesLoading: 'Loading devices…',
  schoolDevicesError: 'Could not load the devices. Retrying in a few seconds; figures below may be out of date.',
  schoolNotFound: (id: string) => `No school “${id}”.`,
  schoolNoDevices: 'No devices registered for this school yet.',
  countDevices: 'Devices',
  countProblems: 'With problems',
  countProblemsHint: 'Devices unreachable, faulty, no longer reporting or never heard from',
  countAlarms: 'Alarms',
  updatedAt: (time: string) => `Updated ${time}`,
  deviceAlarms: (n: number, formatted: string) => (n === 1 ? '1 alarm' : `${formatted} alarms`),
  alarmsHeading: 'Raised alarms',
  attendanceHeading: "Today's attendance",
  attendanceNote: "Students present per period: people counted by the classroom cameras on the school's own server (no image leaves the school), less the teacher, against enrolment. Hover a cell for the room and the numbers.",
  attendanceClass: 'Class',
  attendancePeriod: (n: string) => `P${n}`,
  attendanceNotCounted: 'not counted',
  attendanceNoLessons: 'No lessons today.',
  attendanceLow: 'low',
  alarmsNone: 'No alarms.',
  since: (ago: string) => `since ${ago}`,
  devicesHeading: 'Devices by kind',
  colDevice: 'Device',
  colValues: 'Key values',
  colUpdated: 'Updated',
  noReadings: 'No readings yet',
  moreValues: (n: number) => `+${n} more`,
  yes: 'yes',
  no: 'no',

  kind: {
    display: 'Projectors / Displays',
    'interactive-board': 'Interactive boards',
    camera: 'Classroom cameras',
    network: 'Network & Internet',
    lab: 'Labs',
  },
  otherKind: (kind: string) => `Other devices (${kind})`,

  severity: {
    critical: 'Critical',
    warning: 'Warning',
    info: 'Info',
  },

  deviceState: {
    ok: 'OK',
    unreachable: 'Unreachable',
    faulty: 'Faulty',
    silent: 'Not reporting',
    unknown: 'Unknown',
  },
  deviceStateHint: {
    ok: 'The device answers and reports regularly',
    unreachable: "The school's gateway cannot reach the device",
    faulty: 'The device answers, but wrongly',
    silent: 'No reading from the device for a while',
    unknown: 'Never heard from the device',
  },
  reason: {
    refused: 'Connection refused',
    timeout: 'No answer (timed out)',
    no_route: 'No network route to the device',
    closed: 'Connection dropped',
    auth_failed: 'Wrong password or credentials',
    protocol_error: 'Garbled answer (protocol error)',
    device_error: 'The device reports an error',
  },

  metric: {
    power: 'Power',
    lampHours: 'Lamp hours',
    errorFan: 'Fan',
    errorLamp: 'Lamp',
    errorTemperature: 'Temperature',
    errorCover: 'Cover',
    errorFilter: 'Filter',
    errorOther: 'Other',
    linkUp: 'WAN port',
    inBps: 'In',
    outBps: 'Out',
    utilisationIn: 'Utilisation in',
    utilisationOut: 'Utilisation out',
    uptimeS: 'Uptime',
    wanUp: 'Internet',
    latencyMs: 'Latency',
    lossPct: 'Loss',
    jitterMs: 'Jitter',
    dnsMs: 'DNS',
    httpOk: 'Online services',
    roomTemperature: 'Room temp.',
    humidity: 'Humidity',
    fumeHoodAirflow: 'Fume hood',
    fridgeTemperature: 'Chemical fridge',
    printerState: '3D printer',
    sessionActive: 'Lesson',
    appInUse: 'App',
    temperature: 'Temperature',
    freeStorageMb: 'Free storage',
    reachable: 'Connection',
    headcount: 'People',
  },
  word: {
    on: 'On',
    off: 'Off',
    cooling: 'Cooling down',
    warming: 'Warming up',
    warning: 'Warning',
    error: 'Error',
    up: 'Up',
    down: 'Down',
    linkDown: 'Link down',
    servicesOk: 'Reachable',
    servicesDown: 'Unreachable',
    idle: 'Idle',
    printing: 'Printing',
    offline: 'Offline',
    inSession: 'In a lesson',
    noSession: 'None',
    none: 'none',
    unreachable: 'Unreachable',
  },
  unit: { day: 'd', hour: 'h', minute: 'min', second: 's', hours: 'h' },

  announceOffline: (name: string) => `${name} went offline.`,
  announceOnline: (name: string) => `${name} is back online.`,
  announceManyOffline: (n: number) => `${n} schools went offline.`,
  announceManyOnline: (n: number) => `${n} schools are back online.`,
};

export const STRINGS: Record<Lang, Strings> = { vi, en };

export function isLang(v: unknown): v is Lang {
  return v === 'vi' || v === 'en';
}

export const LANG_STORAGE_KEY = 'schoolops.lang';

/**
 * The language to start in: `?lang=en` in the URL (for a wall display configured by its
 * bookmark, not remembered), else the remembered choice, else Vietnamese.
 */
export function initialLang(search: string, storage: Pick<Storage, 'getItem'> | null): Lang {
  const fromUrl = new URLSearchParams(search).get('lang');
  if (isLang(fromUrl)) return fromUrl;
  try {
    const stored = storage?.getItem(LANG_STORAGE_KEY);
    if (isLang(stored)) return stored;
  } catch {
    // Storage can throw (privacy mode, disabled storage): fall back to the default.
  }
  return 'vi';
}

export function rememberLang(lang: Lang, storage: Pick<Storage, 'setItem'> | null): void {
  try {
    storage?.setItem(LANG_STORAGE_KEY, lang);
  } catch {
    // Not remembered; the toggle still works for this page view.
  }
}

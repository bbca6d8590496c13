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
  alarms: (n: string) => `${n} alarms`,
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

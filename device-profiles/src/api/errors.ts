/**
 * Every error the district API answers with, in one catalog: a stable code, its HTTP status,
 * and what it says to a person in Vietnamese and in English. The cloud sends
 * { statusCode, error, message (English), code, params }; the dashboard shows the catalog's
 * text for the code in the page's language, so the person reads "Ngày bắt đầu phải trước ngày
 * kết thúc" and a script reads `range_backwards`. A new error is one entry here.
 *
 * No imports with effects: the browser bundle imports this file.
 */

export type ErrorParams = Record<string, string | number>;
type Text = (p: ErrorParams) => string;

interface ErrorDef {
  status: 400 | 401 | 403 | 404 | 409 | 413 | 429 | 503;
  vi: Text;
  en: Text;
}

const q = (v: string | number | undefined) => `"${v ?? ''}"`;

export const API_ERRORS = {
  // ---- requests that do not fit ----
  invalid_request: {
    status: 400,
    vi: (p) => `Yêu cầu không hợp lệ: ${p.detail}`,
    en: (p) => `invalid request: ${p.detail}`,
  },
  body_too_large: {
    status: 413,
    vi: (p) => `Dữ liệu gửi lên quá lớn (tối đa ${p.max} byte).`,
    en: (p) => `the request body is larger than ${p.max} bytes`,
  },
  unknown_route: {
    status: 404,
    vi: (p) => `Không có địa chỉ ${p.method} ${p.url}.`,
    en: (p) => `no route ${p.method} ${p.url}`,
  },
  rate_limited: {
    status: 429,
    vi: () => 'Quá nhiều yêu cầu; hãy thử lại sau.',
    en: (p) => `${p.detail ?? 'too many requests: try again later'}`,
  },
  bad_time: {
    status: 400,
    vi: (p) => `${q(p.value)} không phải là một thời điểm (dùng ISO 8601, ví dụ 2025-03-10T07:00:00+07:00, hoặc mili giây).`,
    en: (p) => `${p.field ? `${q(p.field)} is not a time: ${p.value}` : `${q(p.value)} is not a time`} (use ISO 8601, e.g. 2025-03-10T07:00:00+07:00, or ms since the epoch)`,
  },
  bad_date: {
    status: 400,
    vi: (p) => `${q(p.value)} không phải là một ngày (dùng YYYY-MM-DD).`,
    en: (p) => `${q(p.value)} is not a date (use YYYY-MM-DD)`,
  },
  range_backwards: {
    status: 400,
    vi: (p) => `Thời điểm bắt đầu (${p.from}) phải trước thời điểm kết thúc (${p.to}).`,
    en: (p) => `the start (${p.from}) must be before the end (${p.to})`,
  },
  range_too_long: {
    status: 400,
    vi: (p) => `Khoảng thời gian dài ${p.days} ngày; mỗi lần chỉ xem được tối đa ${p.max} ngày.`,
    en: (p) => `that range spans ${p.days} days; one question may span at most ${p.max} days`,
  },
  too_far_back: {
    status: 400,
    vi: (p) => `Chỉ xem lại được tối đa ${p.max} ngày (từ ${p.earliest}).`,
    en: (p) => `${p.field ?? 'the start'} may reach back at most ${p.max} days (to ${p.earliest} now); ${p.value} is earlier`,
  },
  too_many_buckets: {
    status: 400,
    vi: (p) => `Khoảng thời gian này có hơn ${p.max} điểm dữ liệu; hãy chọn khoảng gộp rộng hơn.`,
    en: (p) => `that range holds more than ${p.max} buckets; use a wider bucket`,
  },
  // ---- things that do not exist ----
  unknown_school: {
    status: 404,
    vi: (p) => `Không có trường ${q(p.schoolId)}.`,
    en: (p) => `no school ${q(p.schoolId)}`,
  },
  unknown_device: {
    status: 404,
    vi: (p) => `Không có thiết bị ${q(p.deviceId)}.`,
    en: (p) => `no device ${q(p.deviceId)}`,
  },
  unknown_metric: {
    status: 400,
    vi: (p) => `Thiết bị ${q(p.deviceId)} không có số liệu ${q(p.metric)}.`,
    en: (p) => `device ${q(p.deviceId)} has no metric ${q(p.metric)}`,
  },
  unknown_class: {
    status: 404,
    vi: (p) => `Trường không có lớp ${q(p.classId)}.`,
    en: (p) => `the school has no class ${q(p.classId)}`,
  },
  unknown_user: {
    status: 404,
    vi: (p) => `Không có người dùng ${q(p.username)}.`,
    en: (p) => `no user ${q(p.username)}`,
  },
  unknown_token: {
    status: 404,
    vi: (p) => `Không có mã truy cập ${q(p.tokenId)}.`,
    en: (p) => `no API token ${q(p.tokenId)}`,
  },
  unknown_display: {
    status: 404,
    vi: (p) => `Không có màn hình ${q(p.displayId)}.`,
    en: (p) => `no wall display ${q(p.displayId)}`,
  },
  // ---- commands ----
  unknown_command: {
    status: 400,
    vi: (p) => `Thiết bị ${q(p.deviceId)} không nhận lệnh ${q(p.name)}${p.known ? ` (nhận: ${p.known})` : ''}.`,
    en: (p) => `${p.profileId} has no command ${q(p.name)}${p.known ? ` (it has: ${p.known})` : ' (it takes none)'}`,
  },
  bad_command_params: {
    status: 400,
    vi: (p) => `Tham số của lệnh ${q(p.name)} không hợp lệ: ${p.detail}`,
    en: (p) => `${p.detail}`,
  },
  command_not_sent: {
    status: 503,
    vi: () => 'Chưa gửi được lệnh tới máy chủ MQTT của quận; hãy thử lại sau ít phút.',
    en: (p) => `the command could not be recorded or handed to the district broker: ${p.detail}`,
  },
  // ---- signing in and accounts ----
  not_signed_in: {
    status: 401,
    vi: () => 'Cần đăng nhập trước (hoặc phiên làm việc đã hết hạn).',
    en: (p) => `${p.detail ?? 'sign in first'}`,
  },
  wrong_password: {
    status: 401,
    vi: () => 'Sai tên đăng nhập hoặc mật khẩu.',
    en: () => 'wrong username or password',
  },
  wrong_code: {
    status: 401,
    vi: () => 'Mã không đúng, đã dùng hoặc đã hết hạn: hãy xin quản trị viên quận mã mới.',
    en: () => 'this code is wrong, used already, or expired: ask the district admin for a new one',
  },
  too_many_tries: {
    status: 429,
    vi: (p) => `Thử sai quá nhiều lần: hãy thử lại sau ${p.minutes} phút.`,
    en: (p) => `too many ${p.what ?? 'failed tries'}: try again in ${p.minutes} min`,
  },
  wrong_current_password: {
    status: 400,
    vi: () => 'Mật khẩu hiện tại không đúng.',
    en: () => 'the current password is wrong',
  },
  forbidden: {
    status: 403,
    vi: () => 'Tài khoản này không có quyền làm việc này.',
    en: (p) => `${p.detail ?? 'not allowed'}`,
  },
  csrf: {
    status: 403,
    vi: () => 'Phiên làm việc đã thay đổi (mã CSRF cũ): hãy tải lại trang.',
    en: (p) => `${p.detail ?? 'missing or stale CSRF token: reload the page'}`,
  },
  bad_scope: {
    status: 400,
    vi: (p) => `Phạm vi trường không hợp lệ: ${p.detail}`,
    en: (p) => `${p.detail}`,
  },
  bad_username: {
    status: 400,
    vi: () => 'Tên đăng nhập dài 2-64 ký tự: chữ thường không dấu, chữ số, ".", "_" hoặc "-", bắt đầu bằng chữ hoặc số.',
    en: () => 'a username is 2-64 characters: lower-case letters, digits, ".", "_" or "-", starting with a letter or digit',
  },
  user_exists: {
    status: 409,
    vi: (p) => `Người dùng ${q(p.username)} đã có.`,
    en: (p) => `the user ${q(p.username)} exists already`,
  },
  bad_password: {
    status: 400,
    vi: (p) => `Mật khẩu phải có từ ${p.min} đến ${p.max} ký tự.`,
    en: (p) => `a password has at least ${p.min} and at most ${p.max} characters`,
  },
  last_admin: {
    status: 400,
    vi: () => 'Đây là quản trị viên quận cuối cùng: hãy tạo một quản trị viên khác trước.',
    en: () => 'this is the last district admin: make another one first',
  },
  // ---- the server ----
  store_busy: {
    status: 503,
    vi: (p) => `Máy chủ đang bận; hãy thử lại sau ${p.retryAfterS} giây.`,
    en: (p) => `the reading store is busy (${p.queued} queries waiting); try again in ${p.retryAfterS} s`,
  },
  probe_busy: {
    status: 503,
    vi: () => 'Đang có quá nhiều lượt đo tốc độ; hãy thử lại sau một phút.',
    en: (p) => `${p.running} throughput tests are running: try again in a minute`,
  },
  // ---- attendance over a range of school days ----
  no_lessons_in_range: {
    status: 404,
    vi: (p) => `Thời khoá biểu không có tiết học nào${p.classId ? ` của lớp ${q(p.classId)}` : ''} từ ngày ${p.from} đến ngày ${p.to}.`,
    en: (p) => `the timetable has no lesson${p.classId ? ` of class ${q(p.classId)}` : ''} from ${p.from} to ${p.to}`,
  },
  class_without_lessons: {
    status: 404,
    vi: (p) => `Lớp ${q(p.classId)} chưa có tiết học nào trong thời khoá biểu.`,
    en: (p) => `the timetable gives class ${q(p.classId)} no lessons`,
  },
} as const satisfies Record<string, ErrorDef>;

export type ApiErrorCode = keyof typeof API_ERRORS;

export function isApiErrorCode(code: unknown): code is ApiErrorCode {
  return typeof code === 'string' && Object.hasOwn(API_ERRORS, code);
}

const REASON: Record<ErrorDef['status'], string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

/** The body the cloud answers an error with (ErrorBody in district.ts). */
export function errorBody(code: ApiErrorCode, params: ErrorParams = {}): { statusCode: number; error: string; message: string; code: ApiErrorCode; params: ErrorParams } {
  const def: ErrorDef = API_ERRORS[code];
  return { statusCode: def.status, error: REASON[def.status], message: def.en(params), code, params };
}

/** What an error says to a person in `lang`: the catalog's text for its code, else the server's message. */
export function errorText(body: { code?: unknown; params?: unknown; message?: unknown }, lang: 'vi' | 'en'): string | null {
  if (isApiErrorCode(body.code)) {
    const params = typeof body.params === 'object' && body.params !== null ? (body.params as ErrorParams) : {};
    const def: ErrorDef = API_ERRORS[body.code];
    return def[lang](params);
  }
  return typeof body.message === 'string' ? body.message : null;
}

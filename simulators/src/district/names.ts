/**
 * Vietnamese names the generator draws from: the people schools are named after, the
 * wards of an urban district, school levels and subjects (as the 2018 general education
 * programme names them), each in Vietnamese and English.
 */
import type { LocalizedText } from '@schoolops/device-profiles';

/** People and places Vietnamese schools are commonly named after (each needs no English form). */
export const NAMESAKES = [
  'Lê Lợi', 'Nguyễn Du', 'Trần Phú', 'Lê Quý Đôn', 'Nguyễn Trãi', 'Chu Văn An', 'Trần Hưng Đạo',
  'Lý Thường Kiệt', 'Hai Bà Trưng', 'Nguyễn Thị Minh Khai', 'Võ Thị Sáu', 'Phan Bội Châu',
  'Phan Chu Trinh', 'Lương Thế Vinh', 'Ngô Quyền', 'Quang Trung', 'Nguyễn Bỉnh Khiêm',
  'Lê Hồng Phong', 'Đinh Tiên Hoàng', 'Lý Tự Trọng', 'Kim Đồng', 'Nguyễn Văn Trỗi',
  'Hoàng Hoa Thám', 'Trưng Vương', 'Bùi Thị Xuân', 'Nguyễn Khuyến', 'Tô Hiến Thành',
  'Đoàn Thị Điểm', 'Nguyễn Đình Chiểu', 'Trần Quốc Toản', 'Lê Văn Tám', 'Mạc Đĩnh Chi',
  'Yết Kiêu', 'Phạm Ngũ Lão', 'Nguyễn Thái Học', 'Hồ Xuân Hương', 'Trần Đại Nghĩa',
  'Võ Trường Toản', 'Hàn Thuyên', 'Ngô Sĩ Liên', 'Lê Thánh Tông', 'Nguyễn Hiền',
  'Hùng Vương', 'Lê Ngọc Hân', 'Nguyễn Văn Cừ', 'Phạm Hồng Thái', 'Trần Quang Khải',
  'Nguyễn Công Trứ', 'Huỳnh Thúc Kháng', 'Lê Văn Sỹ', 'Đống Đa', 'Bạch Đằng', 'Hoà Bình',
  'Thăng Long', 'Minh Khai', 'Kỳ Đồng', 'Văn Lang', 'Âu Lạc', 'Điện Biên', 'Nguyễn Huệ',
] as const;

/**
 * Wards of a Ho Chi Minh City district (names only; the district itself is made up), in
 * Vietnamese and as English texts write them (no tone marks, "Ward" after the name).
 */
export const WARDS: readonly LocalizedText[] = [
  { vi: 'Phường Bến Nghé', en: 'Ben Nghe Ward' },
  { vi: 'Phường Bến Thành', en: 'Ben Thanh Ward' },
  { vi: 'Phường Đa Kao', en: 'Da Kao Ward' },
  { vi: 'Phường Tân Định', en: 'Tan Dinh Ward' },
  { vi: 'Phường Cầu Kho', en: 'Cau Kho Ward' },
  { vi: 'Phường Cô Giang', en: 'Co Giang Ward' },
  { vi: 'Phường Nguyễn Cư Trinh', en: 'Nguyen Cu Trinh Ward' },
  { vi: 'Phường Phạm Ngũ Lão', en: 'Pham Ngu Lao Ward' },
  { vi: 'Phường Cầu Ông Lãnh', en: 'Cau Ong Lanh Ward' },
  { vi: 'Phường Nguyễn Thái Bình', en: 'Nguyen Thai Binh Ward' },
];

export type SchoolLevel = 'primary' | 'lower-secondary' | 'upper-secondary';

export const LEVELS: Record<
  SchoolLevel,
  { vi: string; en: string; idPrefix: string; grades: readonly number[] }
> = {
  primary: { vi: 'Trường Tiểu học', en: 'Primary School', idPrefix: 'th', grades: [1, 2, 3, 4, 5] },
  'lower-secondary': { vi: 'Trường THCS', en: 'Lower Secondary School', idPrefix: 'thcs', grades: [6, 7, 8, 9] },
  'upper-secondary': { vi: 'Trường THPT', en: 'Upper Secondary School', idPrefix: 'thpt', grades: [10, 11, 12] },
};

/** Vietnamese text without diacritics, e.g. 'Lê Quý Đôn' -> 'Le Quy Don'. */
export function withoutDiacritics(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/đ/g, 'd')
    .replace(/Đ/g, 'D');
}

/** A URL- and MQTT-safe id fragment: 'Lê Quý Đôn' -> 'le-quy-don'. */
export function slug(text: string): string {
  return withoutDiacritics(text)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** Where a subject is taught when it leaves the home classroom. */
export type SpecialRoom = 'physics' | 'chemistry' | 'biology' | 'science' | 'computer';

export interface Subject {
  name: LocalizedText;
  /** Periods per week. */
  perWeek: number;
  /** The specialised room the subject uses when one is free. */
  room?: SpecialRoom;
  /** Share of its lessons held in that room (the rest in the home classroom). */
  roomShare?: number;
}

const s = (vi: string, en: string, perWeek: number, room?: SpecialRoom, roomShare?: number): Subject => ({
  name: { vi, en },
  perWeek,
  ...(room ? { room, roomShare: roomShare ?? 1 } : {}),
});

/** Weekly subjects by school level (rounded from the 2018 programme's yearly hours). */
export const SUBJECTS: Record<SchoolLevel, (grade: number) => Subject[]> = {
  primary: (grade) => [
    s('Tiếng Việt', 'Vietnamese', grade <= 2 ? 10 : 7),
    s('Toán', 'Mathematics', 5),
    s('Tiếng Anh', 'English', grade <= 2 ? 1 : 4),
    s('Đạo đức', 'Ethics', 1),
    ...(grade <= 3
      ? [s('Tự nhiên và Xã hội', 'Nature and Society', 2, 'science', 0.5)]
      : [s('Khoa học', 'Science', 2, 'science', 0.5), s('Lịch sử và Địa lí', 'History and Geography', 2)]),
    ...(grade >= 3 ? [s('Tin học và Công nghệ', 'Informatics and Technology', 2, 'computer', 0.5)] : []),
    s('Âm nhạc', 'Music', 1),
    s('Mĩ thuật', 'Fine Arts', 1),
    s('Giáo dục thể chất', 'Physical Education', 2),
    s('Hoạt động trải nghiệm', 'Experiential Activities', 3),
  ],
  'lower-secondary': () => [
    s('Toán', 'Mathematics', 4),
    s('Ngữ văn', 'Literature', 4),
    s('Tiếng Anh', 'English', 3),
    s('Vật lí', 'Physics', 1, 'physics', 0.6),
    s('Hoá học', 'Chemistry', 1, 'chemistry', 0.6),
    s('Sinh học', 'Biology', 2, 'biology', 0.5),
    s('Lịch sử', 'History', 2),
    s('Địa lí', 'Geography', 1),
    s('Giáo dục công dân', 'Civic Education', 1),
    s('Công nghệ', 'Technology', 1),
    s('Tin học', 'Informatics', 1, 'computer', 1),
    s('Giáo dục thể chất', 'Physical Education', 2),
    s('Âm nhạc', 'Music', 1),
    s('Mĩ thuật', 'Fine Arts', 1),
    s('Hoạt động trải nghiệm, hướng nghiệp', 'Experiential and Career Guidance Activities', 3),
  ],
  'upper-secondary': () => [
    s('Toán', 'Mathematics', 4),
    s('Ngữ văn', 'Literature', 3),
    s('Tiếng Anh', 'English', 3),
    s('Vật lí', 'Physics', 2, 'physics', 0.5),
    s('Hoá học', 'Chemistry', 2, 'chemistry', 0.5),
    s('Sinh học', 'Biology', 2, 'biology', 0.5),
    s('Lịch sử', 'History', 2),
    s('Địa lí', 'Geography', 2),
    s('Giáo dục kinh tế và pháp luật', 'Economic and Legal Education', 2),
    s('Tin học', 'Informatics', 2, 'computer', 1),
    s('Công nghệ', 'Technology', 1),
    s('Giáo dục thể chất', 'Physical Education', 2),
    s('Giáo dục quốc phòng và an ninh', 'National Defence and Security Education', 1),
    s('Hoạt động trải nghiệm, hướng nghiệp', 'Experiential and Career Guidance Activities', 3),
  ],
};

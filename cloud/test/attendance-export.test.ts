/**
 * Attendance and room usage as files (GET .../attendance/export, .../room-usage/export): the
 * CSV's bytes (a UTF-8 BOM, CRLF, RFC 4180 quoting, Vietnamese intact, formulas defused) and
 * the .xlsx opened back with exceljs, cell by cell, on the hand-worked school of
 * support/attendance-school.ts. Exports are attendance reads: audited, and refused where
 * the summary is.
 */
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiPath } from '@schoolops/device-profiles/api';
import { csvField, csvFile } from '../src/api/csv.ts';
import { startTestApi, type Browser, type TestApi } from './support/api-app.ts';
import { AFTER_THE_DATA, attendanceInventory, attendanceRows } from './support/attendance-school.ts';

let api: TestApi;
let principal: Browser;

beforeAll(async () => {
  api = await startTestApi({ inventory: attendanceInventory, now: AFTER_THE_DATA });
  await api.store.write(attendanceRows());
  principal = await api.browserOf('principal');
});
afterAll(async () => api?.close());

const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

async function download(path: '/api/schools/:schoolId/attendance/export' | '/api/schools/:schoolId/room-usage/export', query: Record<string, string>, who = principal) {
  const res = await who.request({ method: 'GET', url: apiPath(path, { schoolId: 'a' }, query) });
  expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
  return res;
}

/** RFC 4180, strictly: what a spreadsheet reads out of the file. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), (i += 2);
      else if (c === '"') (quoted = false), i++;
      else (field += c), i++;
    } else if (c === '"' && field === '') (quoted = true), i++;
    else if (c === ',') row.push(field), (field = ''), i++;
    else if (c === '\r' && text[i + 1] === '\n') row.push(field), rows.push(row), (row = []), (field = ''), (i += 2);
    else if (c === '\n' || c === '\r') throw new Error(`a bare line break at ${i}`);
    else (field += c), i++;
  }
  if (field !== '' || row.length) throw new Error('the last line has no CRLF');
  return rows;
}

async function workbook(body: Buffer) {
  const book = new ExcelJS.Workbook();
  await book.xlsx.load(body as unknown as ArrayBuffer);
  return book;
}

/** The cells of a row, from column A. */
const cells = (sheet: ExcelJS.Worksheet, n: number) => (sheet.getRow(n).values as unknown[]).slice(1);

describe('the CSV writer', () => {
  it('quotes what needs quoting, defuses formulas, and writes numbers as numbers', () => {
    expect(csvField('Phòng 101')).toBe('Phòng 101');
    expect(csvField('Khoa học, "thực hành"')).toBe('"Khoa học, ""thực hành"""');
    expect(csvField('hai\r\ndòng')).toBe('"hai\r\ndòng"');
    expect(csvField(' lề ')).toBe('" lề "');
    expect(csvField('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvField('-1')).toBe("'-1");
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField(-1.5)).toBe('-1.5');
    expect(csvField(null)).toBe('');
    expect(csvField(Number.NaN)).toBe('');
    const file = csvFile(['Lớp', 'Tỉ lệ (%)'], [['6A1', 95.5], ['6,A2', null]]);
    expect([...file.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(file.subarray(3).toString('utf8')).toBe('Lớp,Tỉ lệ (%)\r\n6A1,95.5\r\n"6,A2",\r\n');
  });
});

describe('attendance export', () => {
  it('CSV: BOM, CRLF, quoted fields, Vietnamese headings and words, one line per lesson held', async () => {
    const res = await download('/api/schools/:schoolId/attendance/export', { from: '2025-03-24', to: '2025-04-09', format: 'csv' });
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe('attachment; filename="attendance-a-2025-03-24-2025-04-09.csv"');
    expect(res.headers['cache-control']).toBe('no-store');
    const bytes = res.rawPayload;
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = bytes.subarray(3).toString('utf8');
    // Written composed (NFC), as Excel and every Vietnamese keyboard expect.
    expect(text).toBe(text.normalize('NFC'));
    const rows = parseCsv(text);
    expect(rows[0]).toEqual([
      'Ngày', 'Thứ', 'Tiết', 'Bắt đầu', 'Kết thúc', 'Lớp', 'Khối', 'Môn học', 'Phòng', 'Tên phòng', 'Sĩ số', 'Số lần đếm', 'Số người đếm được (trung bình)', 'Tỉ lệ có mặt (%)', 'Ghi chú',
    ]);
    expect(rows).toHaveLength(1 + 27);
    // The lab lesson's subject holds a comma and quotes: quoted, quotes doubled.
    expect(text).toContain('2025-03-24,Thứ Hai,2,07:50,08:35,6A1,6,"Khoa học tự nhiên, ""thực hành""",lab-hoa,Phòng thí nghiệm Hoá học,40,2,41,100,Đã đếm\r\n');
    expect(rows).toContainEqual(['2025-03-24', 'Thứ Hai', '1', '07:00', '07:45', '7A1', '7', 'Toán', 'p103', 'Phòng 103', '36', '0', '', '', 'Phòng không có camera']);
    expect(rows).toContainEqual(['2025-04-09', 'Thứ Tư', '3', '08:40', '09:25', '6A2', '6', 'Khoa học tự nhiên, "thực hành"', 'lab-hoa', 'Phòng thí nghiệm Hoá học', '30', '0', '', '', 'Camera không đếm trong tiết này']);
    expect(rows).toContainEqual(['2025-03-26', 'Thứ Tư', '1', '07:00', '07:45', '6A2', '6', 'Toán', 'p102', 'Phòng 102', '30', '2', '22', '70', 'Đã đếm']);
  });

  it('CSV in English on request, and of one class', async () => {
    const res = await download('/api/schools/:schoolId/attendance/export', { from: '2025-03-24', to: '2025-03-26', lang: 'en', classId: '6a2' });
    const rows = parseCsv(res.rawPayload.subarray(3).toString('utf8'));
    expect(rows[0]!.slice(0, 3)).toEqual(['Date', 'Weekday', 'Period']);
    expect(rows.slice(1).map((r) => [r[0], r[2], r[5], r[7], r[13], r[14]])).toEqual([
      ['2025-03-24', '1', '6A2', 'Literature', '70', 'counted'],
      ['2025-03-24', '2', '6A2', 'Maths', '70', 'counted'],
      ['2025-03-26', '1', '6A2', 'Maths', '70', 'counted'],
      ['2025-03-26', '3', '6A2', 'Natural science, "practical"', '70', 'counted'],
    ]);
  });

  it('xlsx: every lesson with real dates and numbers, per class with the threshold, per class and week', async () => {
    const res = await download('/api/schools/:schoolId/attendance/export', { from: '2025-03-24', to: '2025-04-09', format: 'xlsx', threshold: '85' });
    expect(res.headers['content-type']).toBe(XLSX_TYPE);
    expect(res.headers['content-disposition']).toBe('attachment; filename="attendance-a-2025-03-24-2025-04-09.xlsx"');
    expect(res.rawPayload.subarray(0, 2).toString('latin1')).toBe('PK');
    const book = await workbook(res.rawPayload);
    expect(book.worksheets.map((s) => s.name)).toEqual(['Tiết học', 'Theo lớp', 'Theo tuần']);

    const lessons = book.getWorksheet('Tiết học')!;
    expect(lessons.rowCount).toBe(1 + 27);
    expect(cells(lessons, 1)[7]).toBe('Môn học');
    const lab = [...Array(lessons.rowCount).keys()].map((i) => cells(lessons, i + 1)).find((r) => r[5] === '6A1' && r[8] === 'lab-hoa' && (r[0] as Date).getTime?.() === Date.UTC(2025, 2, 31))!;
    expect(lab).toEqual([new Date(Date.UTC(2025, 2, 31)), 'Thứ Hai', 2, '07:50', '08:35', '6A1', 6, 'Khoa học tự nhiên, "thực hành"', 'lab-hoa', 'Phòng thí nghiệm Hoá học', 40, 2, 39, 95, 'Đã đếm']);
    expect(lessons.getCell('A2').numFmt).toBe('dd/mm/yyyy');
    expect(lessons.getCell('N2').numFmt).toBe('0.0');

    const classes = book.getWorksheet('Theo lớp')!;
    expect(cells(classes, 1)).toEqual(['Lớp', 'Khối', 'Sĩ số', 'Số tiết đã diễn ra', 'Số tiết đã đếm', 'Tiết ở phòng không có camera', 'Tiết camera không đếm', 'Tỉ lệ có mặt (%)', 'Dưới ngưỡng 85 %']);
    expect(cells(classes, 2)).toEqual(['6A1', 6, 40, 9, 9, 0, 0, 95, '']);
    expect(cells(classes, 3)).toEqual(['6A2', 6, 30, 12, 11, 0, 1, 80.9, 'Có']);
    // No rate, no cell (not a zero).
    expect(cells(classes, 4)).toEqual(['7A1', 7, 36, 3, 0, 3, 0, undefined, '']);

    const weeks = book.getWorksheet('Theo tuần')!;
    expect(cells(weeks, 1)).toEqual(['Lớp', '2025-W13', '2025-W14', '2025-W15']);
    expect(cells(weeks, 2)).toEqual(['6A1', 100, 95, 90]);
    expect(cells(weeks, 3)).toEqual(['6A2', 70, 85, 90]);
  });
});

describe('room usage export', () => {
  const TWO_DAYS = { from: '2025-03-24', to: '2025-03-26' };

  it('CSV: every room in every period of the school days', async () => {
    const res = await download('/api/schools/:schoolId/room-usage/export', TWO_DAYS);
    expect(res.headers['content-disposition']).toBe('attachment; filename="room-usage-a-2025-03-24-2025-03-26.csv"');
    const text = res.rawPayload.subarray(3).toString('utf8');
    const rows = parseCsv(text);
    expect(rows[0]).toEqual(['Ngày', 'Thứ', 'Tiết', 'Bắt đầu', 'Kết thúc', 'Phòng', 'Tên phòng', 'Loại phòng', 'Lớp theo thời khoá biểu', 'Tình trạng', 'Số lần đếm', 'Số người nhiều nhất']);
    expect(rows).toHaveLength(1 + 2 * 6 * 3);
    expect(text).toContain('2025-03-24,Thứ Hai,3,08:40,09:25,p101,Phòng 101,Phòng học,,Có người,1,2\r\n');
    expect(text).toContain('2025-03-24,Thứ Hai,2,07:50,08:35,lab-hoa,Phòng thí nghiệm Hoá học,Phòng thí nghiệm,6A1,Có người,2,41\r\n');
    expect(text).toContain('2025-03-24,Thứ Hai,1,07:00,07:45,p103,Phòng 103,Phòng học,7A1,Không có dữ liệu,0,\r\n');
    expect(text).toContain('2025-03-26,Thứ Tư,3,08:40,09:25,p102,Phòng 102,Phòng học,,Trống,1,0\r\n');
  });

  it('xlsx: the periods, per room, the weekday x period grid and the labs', async () => {
    const res = await download('/api/schools/:schoolId/room-usage/export', { ...TWO_DAYS, format: 'xlsx' });
    expect(res.headers['content-type']).toBe(XLSX_TYPE);
    const book = await workbook(res.rawPayload);
    expect(book.worksheets.map((s) => s.name)).toEqual(['Theo tiết', 'Theo phòng', 'Thứ × tiết (%)', 'Phòng thí nghiệm']);
    expect(book.getWorksheet('Theo tiết')!.rowCount).toBe(1 + 36);
    const rooms = book.getWorksheet('Theo phòng')!;
    expect(cells(rooms, 2)).toEqual(['lab-hoa', 'Phòng thí nghiệm Hoá học', 'Phòng thí nghiệm', 'a.lab.cam', 6, 6, 3, 50, 2, 2, 100, 1]);
    expect(cells(rooms, 5)).toEqual(['p103', 'Phòng 103', 'Phòng học', '', 6, 0, 0, undefined, 1, 0, undefined, 0]);
    const grid = book.getWorksheet('Thứ × tiết (%)')!;
    expect(cells(grid, 1)).toEqual(['Tiết', 'Thứ Hai', 'Thứ Tư']);
    // P1: p101 and p102 in use, the lab empty, both days; P3: Monday p101 in use and the lab empty,
    // Wednesday p101 and p102 empty and the lab in use.
    expect(cells(grid, 2)).toEqual(['Tiết 1 (07:00–07:45)', 66.7, 66.7]);
    expect(cells(grid, 4)).toEqual(['Tiết 3 (08:40–09:25)', 50, 33.3]);
    const labs = book.getWorksheet('Phòng thí nghiệm')!;
    expect(cells(labs, 2)).toEqual(['lab-hoa', 'Phòng thí nghiệm Hoá học', 'a.lab.cam', 6, 6, 3, 50, 2, 2, 100, 1, 3, 1]);
  });
});

describe('exports are attendance reads', () => {
  it('each one is in the audit log, saying which file', async () => {
    await download('/api/schools/:schoolId/attendance/export', { from: '2025-03-31', to: '2025-04-02', format: 'xlsx' });
    await download('/api/schools/:schoolId/room-usage/export', { from: '2025-03-31', to: '2025-04-02', format: 'csv' });
    const find = async (view: string) => {
      for (let i = 0; i < 100; i++) {
        const entry = (await api.accounts.auditEntries({ action: 'attendance.read' })).find((e) => e.detail.view === view && (e.detail.query as Record<string, string>).from === '2025-03-31');
        if (entry) return entry;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`no audit entry of ${view}`);
    };
    expect(await find('attendance-export')).toMatchObject({ actor: 'principal-a', schoolId: 'a', outcome: 'ok', detail: { status: 200, format: 'xlsx', rows: 9 } });
    expect(await find('room-usage-export')).toMatchObject({ actor: 'principal-a', schoolId: 'a', outcome: 'ok', detail: { status: 200, format: 'csv', rows: 36 } });
  });

  it("refuses school IT, wall displays and another school's principal; no file without sign-in", async () => {
    for (const path of ['/api/schools/:schoolId/attendance/export', '/api/schools/:schoolId/room-usage/export'] as const) {
      expect((await principal.request({ method: 'GET', url: apiPath(path, { schoolId: 'b' }) })).statusCode, path).toBe(403);
      for (const role of ['school-it', 'wall-display'] as const) {
        const res = await (await api.browserOf(role)).request({ method: 'GET', url: apiPath(path, { schoolId: 'a' }) });
        expect(res.statusCode, `${role} ${path}`).toBe(403);
        expect(res.headers['content-type']).toMatch(/application\/json/);
      }
      expect((await api.app.inject({ method: 'GET', url: apiPath(path, { schoolId: 'a' }) })).statusCode).toBe(401);
    }
  });

  it('a bad question is a JSON error with its code, never a file', async () => {
    for (const [url, code] of [
      ['/api/schools/a/attendance/export?format=pdf', 'invalid_request'],
      ['/api/schools/a/attendance/export?lang=fr', 'invalid_request'],
      ['/api/schools/a/attendance/export?from=2025-04-09&to=2025-03-24', 'range_backwards'],
      ['/api/schools/a/attendance/export?classId=9a9&format=xlsx', 'class_without_lessons'],
      ['/api/schools/a/room-usage/export?from=2025-03-25&to=2025-03-25&format=xlsx', 'no_lessons_in_range'],
      ['/api/schools/a/room-usage/export?to=2025-13-01', 'bad_date'],
    ] as const) {
      const res = await principal.request({ method: 'GET', url });
      expect(res.headers['content-type'], url).toMatch(/application\/json/);
      expect(res.headers['content-disposition'], url).toBeUndefined();
      expect(res.json().code, url).toBe(code);
    }
  });
});

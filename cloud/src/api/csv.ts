/**
 * CSV that a spreadsheet opens right (RFC 4180): UTF-8 with a byte-order mark (without it
 * Excel reads the bytes as the machine's ANSI code page and "Phòng Tin học" comes out as
 * "PhÃ²ng Tin há»c"), fields separated by commas, lines ended CRLF, a field quoted when it
 * holds a comma, a double quote (doubled inside), a line break, or spaces at either end.
 *
 * A text cell starting with = + - @ (or a tab or CR) would be run by a spreadsheet as a
 * formula: such text gets a leading apostrophe, as the audit log's export does. Numbers
 * are written as numbers (a point for the decimal), so a negative one is never touched.
 */

export type CsvValue = string | number | boolean | null | undefined;

const UTF8_BOM = '\uFEFF';
const NEEDS_QUOTES = /[",\r\n]|^\s|\s$/;
const FORMULA_START = /^[=+\-@\t\r]/;

/** One field, quoted as needed. */
export function csvField(value: CsvValue): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** A whole file: the BOM, a heading line, then one line per row, every line ended CRLF. */
export function csvFile(heading: readonly string[], rows: Iterable<readonly CsvValue[]>): Buffer {
  const lines = [heading.map(csvField).join(',')];
  for (const row of rows) lines.push(row.map(csvField).join(','));
  return Buffer.from(`${UTF8_BOM}${lines.join('\r\n')}\r\n`, 'utf8');
}

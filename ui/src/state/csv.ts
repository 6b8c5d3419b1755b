// CSV as spreadsheets read it (RFC 4180): comma-separated, CRLF line ends, a cell quoted
// when it holds a comma, a quote, a line break or edge spaces, quotes doubled inside.
// A text cell that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a
// leading apostrophe; numbers are written as they are.

export type CsvValue = string | number | boolean | null | undefined;

export interface CsvColumn<T> {
  header: string;
  value: (row: T) => CsvValue;
}

const FORMULA_START = /^[=+\-@\t\r]/;

/** One cell. Null and undefined are empty; non-finite numbers too. */
export function csvCell(v: CsvValue): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "";
  if (typeof v === "boolean") return v ? "true" : "false";
  let s = v;
  if (FORMULA_START.test(s)) s = `'${s}`;
  if (/[",\r\n]/.test(s) || s !== s.trim()) return `"${s.replace(/"/g, '""')}"`;
  return s;
}

/** A header line and one line per row, each ending in CRLF. */
export function toCsv<T>(columns: CsvColumn<T>[], rows: readonly T[]): string {
  const line = (cells: CsvValue[]) => `${cells.map(csvCell).join(",")}\r\n`;
  return line(columns.map((c) => c.header)) + rows.map((r) => line(columns.map((c) => c.value(r)))).join("");
}

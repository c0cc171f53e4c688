/** Where the CLI writes; injectable for tests. */
export interface CliIo {
  /** Standard output. */
  out: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  /** Standard error. */
  err: { write(text: string): unknown };
  /** Working directory the config is looked up in. */
  cwd: string;
}

/** Prints a value as JSON, one document. */
export function printJson(io: CliIo, value: unknown): void {
  io.out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints rows as an aligned text table. */
export function printTable(io: CliIo, headers: string[], rows: Array<Array<string | number | null | undefined>>): void {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  for (const row of cells) io.out.write(`${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`);
}

/** Prints `key  value` lines, keys aligned. */
export function printFields(io: CliIo, fields: Array<[string, unknown]>): void {
  const width = Math.max(...fields.map(([k]) => k.length));
  for (const [key, value] of fields) {
    const text = value === null || value === undefined ? '-' : typeof value === 'object' ? JSON.stringify(value) : String(value);
    io.out.write(`${key.padEnd(width)}  ${text}\n`);
  }
}

/** Parses `500ms`, `30s`, `15m`, `12h`, `7d` (or a plain number of milliseconds) into milliseconds. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) return null;
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? 'ms') as 'ms'];
  return Math.round(Number(match[1]) * factor);
}

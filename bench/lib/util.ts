// Small helpers shared by the bench scripts: flags, statistics, formatting, progress.
import os from 'node:os';
import { execSync } from 'node:child_process';

/** `--name value` or `--name=value` from argv; `fallback` when absent. */
export function flag(name: string, fallback: string): string;
export function flag(name: string, fallback?: string): string | undefined;
export function flag(name: string, fallback?: string): string | undefined {
  const argv = process.argv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}`) return argv[i + 1] ?? fallback;
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return fallback;
}
export const has = (name: string) => process.argv.includes(`--${name}`);
export const intFlag = (name: string, fallback: number) => {
  const value = Number(flag(name, String(fallback)));
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer (got ${flag(name)})`);
  return value;
};

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function median(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function fmt(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Three significant digits, good for ratios and small figures. */
export function sig(value: number): string {
  if (!Number.isFinite(value)) return '—';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : abs >= 0.1 ? 3 : 4;
  return value.toFixed(digits);
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

const startedAt = performance.now();
export function log(line: string): void {
  const s = ((performance.now() - startedAt) / 1000).toFixed(0).padStart(4);
  process.stdout.write(`[${s}s] ${line}\n`);
}

export function machine() {
  let commit = 'unknown';
  let dirty = false;
  let srcChanges: string[] = [];
  try {
    commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    srcChanges = execSync('git status --porcelain -- src', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .filter(Boolean);
    dirty = srcChanges.some((line) => !line.startsWith('??'));
  } catch {
    // not a git checkout
  }
  return {
    node: process.version,
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cpus: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.type()} ${os.release()}`,
    commit,
    srcModifiedSinceCommit: dirty,
    /** `git status --porcelain -- src` when the run started: what the working tree had beyond the commit. */
    srcChanges,
  };
}

export const loadAverage = () => os.loadavg().map((v) => Number(v.toFixed(2))) as [number, number, number];

/** Waits until `done()` is true, polling every `everyMs`; throws after `timeoutMs`. */
export async function waitFor(what: string, done: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 10): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await done())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

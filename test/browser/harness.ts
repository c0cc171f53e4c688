// Shared by the browser tests: the Express example and its runner as processes, Debian's
// Chromium through playwright-core (never a downloaded browser), a DataSource on the same
// SQLite file for seeding, and screenshots into docs/img/.
import 'reflect-metadata';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { DataSource } from 'typeorm';
import { inject } from 'vitest';
import { UPKEEP_ENTITIES } from '../../src';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CHROMIUM = process.env.UPKEEP_CHROMIUM ?? '/usr/bin/chromium';

/** Starts `tsx script` with `env`; resolves once stdout matches `ready`. */
export function startProcess(script: string, env: Record<string, string>, ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} was not ready within 90 s: ${out}`)), 90_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const match = ready.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match, output: () => out });
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code} before it was ready: ${out}`));
    });
  });
}

/** Stops a child by its own pid: SIGTERM, then SIGKILL after 10 s. */
export async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** The Express example with the demo `x-role` header auth, no runner of its own, and this run's dashboard build. */
export async function startExampleServer(sqlitePath: string, extra: Record<string, string> = {}) {
  const env = { PORT: '0', SQLITE_PATH: sqlitePath, RUNNER: 'off', UPKEEP_DEMO_AUTH: 'x-role', UPKEEP_DASHBOARD_DIR: inject('dashboardDir'), ...extra };
  const s = await startProcess('examples/express-server/server.ts', env, /listening on (http:\/\/\S+)/);
  return { child: s.child, api: s.match[1]!.replace(/\/$/, ''), env };
}

export async function startExampleRunner(env: Record<string, string>) {
  return (await startProcess('examples/express-server/runner.ts', env, /runner ready/)).child;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}

/** A page whose every request (fetch and navigation) carries the demo role header. */
export async function pageAs(browser: Browser, role: 'viewer' | 'operator' | 'admin', options: { colorScheme?: 'light' | 'dark' } = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ extraHTTPHeaders: { 'x-role': role }, viewport: { width: 1280, height: 860 }, colorScheme: options.colorScheme ?? 'light' });
  const page = await context.newPage();
  return { context, page };
}

/** Writes docs/img/dashboard-<name>.png (the screenshots docs/dashboard.md shows). */
export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  if (process.env.UPKEEP_SCREENSHOTS === '0') return;
  const dir = join(ROOT, 'docs', 'img');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `dashboard-${name}.png`), fullPage: options.fullPage ?? false });
}

/**
 * A DataSource on the example's SQLite file. Opened before the server starts, it puts the
 * file in WAL mode (which sticks to the file), so the server's reads never wait for the
 * runner's and the seeding's writes. The server runs the migrations.
 */
export async function openSqlite(path: string): Promise<DataSource> {
  const ds = new DataSource({ type: 'better-sqlite3', database: path, enableWAL: true, entities: [...UPKEEP_ENTITIES], migrations: [], migrationsRun: false, logging: false });
  await ds.initialize();
  return ds;
}

/** Calls the admin API as a role, like the example test does. */
export function apiClient(base: string) {
  return async <T = Record<string, unknown>>(method: string, path: string, body?: unknown, role = 'admin'): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${base}${path}`, { method, headers: { 'x-role': role, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, body: (await res.json()) as T };
  };
}

export async function until<T>(fn: () => Promise<T | null | undefined | false>, what: string, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

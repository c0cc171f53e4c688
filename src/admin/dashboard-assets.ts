import { existsSync, readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AdminResponse } from './admin-types';

/**
 * Serves the pre-built dashboard (`dist/dashboard/`) for `GET /dashboard` and `/dashboard/*`.
 * The assets are plain files read from disk on the first request (never imported), so loading
 * the root entry loads no front-end code.
 */

/**
 * What `serveDashboard` answers: an {@link AdminResponse} whose body is a `string` (HTML,
 * plain-text errors) or a `Buffer` (static assets), to be sent as is, never as JSON.
 */
export type DashboardResponse = AdminResponse & { body: string | Buffer };

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Asset names carry a content hash (`app-3F2A9C1B.js`): cached for a year, never revalidated. */
const HASHED = /-[A-Z0-9]{8,}\.[a-z0-9]+$/i;
const SECURITY_HEADERS = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'same-origin' };
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'self'; frame-ancestors 'self'";

function moduleFile(): string {
  if (typeof __filename === 'string' && __filename.length > 0) return __filename;
  return fileURLToPath(import.meta.url);
}

let cachedDir: string | null | undefined;

/**
 * Finds `dist/dashboard` by walking up from this module to the package root (the folder whose
 * package.json is upkeep's): from sources (`src/admin/`) and from the build (`dist/`, or a chunk in it)
 * alike. `UPKEEP_DASHBOARD_DIR` overrides it (a host that bundled upkeep copies the folder).
 */
export function dashboardAssetsDir(): string | null {
  if (cachedDir !== undefined) return cachedDir;
  const override = process.env.UPKEEP_DASHBOARD_DIR;
  if (override) return (cachedDir = resolve(override));
  let dir = dirname(moduleFile());
  for (let i = 0; i < 8; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && isUpkeepPackage(pkg)) return (cachedDir = join(dir, 'dist', 'dashboard'));
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return (cachedDir = null);
}

function isUpkeepPackage(file: string): boolean {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'upkeep';
  } catch {
    return false;
  }
}

function text(status: number, message: string, extra: Record<string, string> = {}): DashboardResponse {
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...SECURITY_HEADERS, ...extra }, body: message };
}

/** The sub-path's segments, or null when it tries to leave the assets folder. */
function safeSegments(subPath: string): string[] | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(subPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const segments = decoded.split('/').filter((s) => s.length > 0);
  if (segments.some((s) => s === '..' || s === '.' || s.includes(':'))) return null;
  return segments;
}

/** `<base href>` for the page: every relative URL in it (assets, API calls) resolves from here. */
function baseHref(mountPrefix: string): string {
  const prefix = mountPrefix.replace(/\/+$/, '');
  const safe = prefix.startsWith('/') || prefix === '' ? prefix : `/${prefix}`;
  return `${encodeURI(safe).replace(/"/g, '%22')}/dashboard/`;
}

async function indexPage(dir: string, mountPrefix: string): Promise<DashboardResponse> {
  // Read on every request (a few hundred bytes): a rebuild while the server runs is picked up.
  const template = await readFile(join(dir, 'index.html'), 'utf8');
  const html = template.replace('<!--upkeep:base-->', `<base href="${baseHref(mountPrefix)}">`);
  return {
    status: 200,
    headers: { 'content-type': CONTENT_TYPES['.html']!, 'cache-control': 'no-cache', 'content-security-policy': CSP, ...SECURITY_HEADERS },
    body: html,
  };
}

/**
 * Answers a dashboard request. `subPath` is what follows `/dashboard` (`''`, `/`, `/tasks/ID`,
 * `/assets/app-HASH.js`); `mountPrefix` is where the admin API is mounted (`/admin`), used for
 * the page's `<base href>` so the dashboard works under any prefix.
 * - `/assets/*`: the file with its content type; hashed names are cached immutably;
 * - any other path without a file extension: `index.html` (the client routes it);
 * - `..`, encoded or not, and anything outside the assets folder: 400; missing files: 404;
 * - no built assets: 503 saying to run `npm run build`.
 */
export async function serveDashboard(subPath: string, mountPrefix: string): Promise<DashboardResponse> {
  const segments = safeSegments(subPath.replace(/^\/dashboard(?=\/|$)/, ''));
  if (segments === null) return text(400, 'dashboard: bad path (".." and encoded separators are refused)');
  const dir = dashboardAssetsDir();
  if (dir === null || !existsSync(join(dir, 'index.html'))) {
    return text(503, `upkeep dashboard: the built assets are missing${dir ? ` (looked in ${dir})` : ''}; run \`npm run build\` in the upkeep package`);
  }
  const last = segments[segments.length - 1] ?? '';
  const ext = /\.[a-z0-9]+$/i.exec(last)?.[0]?.toLowerCase();
  if (segments[0] !== 'assets' || segments.length < 2) {
    if (ext && ext !== '.html') return text(404, `dashboard: no file ${segments.join('/')}`);
    return indexPage(dir, mountPrefix);
  }
  const root = resolve(dir);
  const file = resolve(root, ...segments);
  if (!file.startsWith(root + sep)) return text(400, 'dashboard: bad path');
  const type = ext ? CONTENT_TYPES[ext] : undefined;
  try {
    if (!type || !(await stat(file)).isFile()) return text(404, `dashboard: no file ${segments.join('/')}`);
  } catch {
    return text(404, `dashboard: no file ${segments.join('/')}`);
  }
  const body = await readFile(file);
  const cache = HASHED.test(last) ? 'public, max-age=31536000, immutable' : 'no-cache';
  return { status: 200, headers: { 'content-type': type, 'cache-control': cache, 'content-length': String(body.length), ...SECURITY_HEADERS }, body };
}

/** Forgets the located folder (tests that point `UPKEEP_DASHBOARD_DIR` elsewhere). */
export function resetDashboardCache(): void {
  cachedDir = undefined;
}

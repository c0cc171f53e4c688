// serveDashboard without a browser: what each path answers, the <base href> for a mount
// prefix, refused traversal, and the 503 when the assets were never built.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, inject } from 'vitest';
import { dashboardAssetsDir, resetDashboardCache, serveDashboard } from '../../src/admin/dashboard-assets';
import { ROOT } from './harness';

// This run's build (test/browser/global-setup.ts), so a concurrent `tsup` cleaning dist/ does not matter.
const dir = inject('dashboardDir');
const built = JSON.parse(readFileSync(join(dir, 'build.json'), 'utf8')) as { js: string; css: string };

beforeEach(() => {
  process.env.UPKEEP_DASHBOARD_DIR = dir;
  resetDashboardCache();
});

afterEach(() => {
  delete process.env.UPKEEP_DASHBOARD_DIR;
  resetDashboardCache();
});

describe('serveDashboard', () => {
  it('finds dist/dashboard by walking up from its own module to the package root; UPKEEP_DASHBOARD_DIR overrides it', () => {
    expect(dashboardAssetsDir()).toBe(dir);
    delete process.env.UPKEEP_DASHBOARD_DIR;
    resetDashboardCache();
    expect(dashboardAssetsDir()).toBe(join(ROOT, 'dist', 'dashboard'));
  });

  it.each([
    ['/admin', '/admin/dashboard/'],
    ['/ops/upkeep/', '/ops/upkeep/dashboard/'],
    ['', '/dashboard/'],
    ['admin', '/admin/dashboard/'],
  ])('mounted at %j, the page gets <base href="%s"> and links its assets relatively', async (prefix, base) => {
    const res = await serveDashboard('', prefix);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.body).toContain(`<base href="${base}">`);
    expect(res.body).toContain(`src="assets/${built.js}"`);
    expect(res.body).toContain(`href="assets/${built.css}"`);
  });

  it('a prefix cannot break out of the href attribute', async () => {
    const res = await serveDashboard('', '/a"><script>alert(1)</script>');
    expect(res.body).not.toContain('<script>alert');
    expect(res.body).toContain('<base href="/a%22%3E%3Cscript%3Ealert(1)%3C/script%3E/dashboard/">');
  });

  it.each(['/', '/tasks', '/tasks/8f1c2d3e-0000-4000-8000-000000000000', '/audit', 'processors'])('client route %j answers the index page', async (sub) => {
    const res = await serveDashboard(sub, '/admin');
    expect(res.status).toBe(200);
    expect(res.body).toContain('<div id="app"></div>');
  });

  it('assets answer with their content type and an immutable cache (hashed names)', async () => {
    const js = await serveDashboard(`/assets/${built.js}`, '/admin');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.headers['x-content-type-options']).toBe('nosniff');
    expect(Buffer.isBuffer(js.body)).toBe(true);
    expect(Number(js.headers['content-length'])).toBe((js.body as Buffer).length);
    const css = await serveDashboard(`assets/${built.css}`, '/admin');
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
  });

  it.each(['/assets/app-AAAAAAAA.js', '/assets/', '/favicon.ico', '/build.json', '/assets/x.exe'])('%j is a 404', async (sub) => {
    const res = await serveDashboard(sub, '/admin');
    if (sub === '/assets/') expect(res.status).toBe(200); // the folder itself is a client route: the index page
    else expect(res.status).toBe(404);
  });

  it.each(['/../package.json', '/assets/../../package.json', '/assets/%2e%2e/%2e%2e/package.json', '/assets/..%2f..%2fpackage.json', '/assets/..\\..\\package.json', '/assets/%00.js', '/assets/C:/x.js'])(
    'traversal %j is refused',
    async (sub) => {
      const res = await serveDashboard(sub, '/admin');
      expect(res.status).toBe(400);
      expect(String(res.body)).not.toContain('"name": "upkeep"');
    },
  );

  it('without built assets: 503 saying to run npm run build', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'upkeep-no-dashboard-'));
    try {
      process.env.UPKEEP_DASHBOARD_DIR = empty;
      resetDashboardCache();
      const res = await serveDashboard('', '/admin');
      expect(res.status).toBe(503);
      expect(res.body).toMatch(/run `npm run build`/);
      expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

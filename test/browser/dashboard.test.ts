// The dashboard in a real browser (Debian's Chromium through playwright-core) against the
// Express example started as a process on SQLite, with its runner in another process.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Upkeep } from '../../src';
import { DemoCleanupProcessor } from '../../examples/express-server/demo-common';
import { LegacyImportProcessor } from './fixtures/import-processor';
import { apiClient, launchChromium, openSqlite, pageAs, screenshot, startExampleRunner, startExampleServer, stopProcess, until } from './harness';

const dir = mkdtempSync(join(tmpdir(), 'upkeep-browser-'));
const sqlitePath = join(dir, 'dashboard.db');
let server: ChildProcess | undefined;
let runner: ChildProcess | undefined;
let serverEnv: Record<string, string> = {};
let apiBase = '';
let dashboard = '';
let browser: Browser;
let dataSource: DataSource;
let api: ReturnType<typeof apiClient>;
const opened: Array<{ close(): Promise<void> }> = [];

async function open(role: 'viewer' | 'operator' | 'admin', path = '', colorScheme: 'light' | 'dark' = 'light'): Promise<Page> {
  const { context, page } = await pageAs(browser, role, { colorScheme });
  opened.push(context);
  page.on('pageerror', (e) => console.error(`[browser ${role}] ${e.message}`));
  await page.goto(`${dashboard}/${path}`);
  await page.locator('main[data-perms="loaded"]').waitFor();
  return page;
}

const POLL = { timeout: 20_000 };
const rows = (page: Page) => page.locator('table.tasks[data-loaded="true"] tbody tr');
const statusOf = async (id: string) => (await api<{ status: string }>('GET', `/tasks/${id}`, undefined, 'viewer')).body.status;

beforeAll(async () => {
  dataSource = await openSqlite(sqlitePath);
  const s = await startExampleServer(sqlitePath);
  server = s.child;
  serverEnv = s.env;
  apiBase = s.api;
  dashboard = `${apiBase}/dashboard`;
  api = apiClient(apiBase);
  // Failed tasks with an error per attempt, run here by the only process that knows their type.
  const local = new Upkeep({ dataSource, processors: [LegacyImportProcessor], settings: { retry: { maxAttempts: 2, initialDelayMs: 10, jitter: 0 } } });
  await local.createTasks(Array.from({ length: 6 }, (_, i) => ({ processor: LegacyImportProcessor.create({ source: `s3://archive/2019/part-${i}.csv`, fail: i < 5 }), maxAttempts: 2 })));
  await until(async () => {
    await local.runDue();
    const c = await local.countByStatus();
    return c.ERROR === 5 && c.COMPLETED === 1;
  }, 'the legacy-import tasks to fail twice');
  // Thirty INACTIVE clean-ups with unique keys and a sensitive token.
  await local.createTasks(Array.from({ length: 30 }, (_, i) => ({ processor: DemoCleanupProcessor.create({ table: i % 2 ? 'sessions' : 'audit_log', apiToken: `secret-${i}` }), inactive: true, uniqueKey: `cleanup-${i}` })));
  runner = await startExampleRunner(serverEnv);
  browser = await launchChromium();
});

// Each test closes its pages: an open page keeps an event stream and polling going.
afterEach(async () => {
  for (const c of opened.splice(0)) await c.close().catch(() => undefined);
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([stopProcess(runner), stopProcess(server)]);
  await dataSource?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('dashboard in Chromium against the Express example', () => {
  it('the list loads with the seeded tasks and their counts per status', async () => {
    const page = await open('viewer');
    await expect.poll(() => rows(page).count(), POLL).toBe(36);
    await expect.poll(() => page.locator('[data-tab="INACTIVE"] .count').textContent(), POLL).toBe('30');
    expect(await page.locator('[data-tab="ERROR"] .count').textContent()).toBe('5');
    expect(await page.locator('[data-tab="ALL"] .count').textContent()).toBe('36');
    expect(await page.locator('tr[data-status="ERROR"]').first().textContent()).toContain('checksum mismatch');
    await screenshot(page, 'tasks');
    // A failed task: its error per attempt and its timeline.
    await page.locator('tr[data-status="ERROR"] a').first().click();
    await page.locator('section[data-status="ERROR"]').waitFor();
    expect(await page.locator('.card', { hasText: 'Errors by attempt' }).locator('tbody tr').count()).toBe(2);
    expect(await page.locator('ol.timeline li[data-event="failed"]').count()).toBeGreaterThan(0);
    await screenshot(page, 'task-errors', { fullPage: true });
  });

  it('a filter narrows the list, is kept in the URL and survives a reload', async () => {
    const page = await open('viewer');
    await expect.poll(() => rows(page).count(), POLL).toBe(36);
    await page.fill('#f-type', 'legacy-import');
    await page.keyboard.press('Tab');
    await expect.poll(() => rows(page).count(), POLL).toBe(6);
    expect(page.url()).toContain('type=legacy-import');
    await page.locator('[data-tab="ERROR"]').click();
    await expect.poll(() => rows(page).count(), POLL).toBe(5);
    await page.reload();
    await expect.poll(() => rows(page).count(), POLL).toBe(5);
    expect(await page.inputValue('#f-type')).toBe('legacy-import');
    expect(await page.locator('[data-tab="ERROR"]').getAttribute('aria-selected')).toBe('true');
    // Search by unique key: exactly one task.
    await page.goto(`${dashboard}/`);
    await page.fill('#f-q', 'cleanup-7');
    await page.keyboard.press('Enter');
    await expect.poll(() => rows(page).count(), POLL).toBe(1);
    expect(page.url()).toContain('q=cleanup-7');
    expect(await rows(page).first().textContent()).toContain('key cleanup-7');
  });

  it('a viewer sees no action buttons, no bulk bar, no selection and no create form', async () => {
    const [{ id }] = (await api<{ items: Array<{ id: string }> }>('GET', '/tasks?status=INACTIVE&limit=1', undefined, 'viewer')).body.items;
    const page = await open('viewer', `tasks/${id}`);
    await page.locator('section[data-status="INACTIVE"]').waitFor();
    expect(await page.locator('button[data-action]').count()).toBe(0);
    expect(await page.locator('.who').textContent()).toMatch(/^(demo-viewer · viewer|read only)$/); // from GET /me, or found out by probing
    // The sensitive prop arrives masked.
    expect(await page.locator('pre.json').first().textContent()).toContain('[redacted]');
    await page.goto(`${dashboard}/#status=ERROR`);
    await expect.poll(() => rows(page).count(), POLL).toBe(5);
    expect(await page.locator('section.bulk').count()).toBe(0);
    expect(await page.locator('table.tasks input[type="checkbox"]').count()).toBe(0);
    await page.goto(`${dashboard}/processors#type=demo-report`);
    await page.getByText('Your role cannot create tasks.').waitFor();
    // The same task for an admin shows its actions (the buttons exist when allowed).
    const admin = await open('admin', `tasks/${id}`);
    await admin.locator('button[data-action="start"]').waitFor();
    expect(await admin.locator('button[data-action="cancel"]').count()).toBe(1);
  });

  it("a task's progress bar moves as the task runs in the runner process", async () => {
    const created = await api<{ id: string }>('POST', '/tasks', { type: 'demo-report', props: { steps: 60, stepMs: 150 } });
    expect(created.status).toBe(201);
    const page = await open('viewer', `tasks/${created.body.id}`);
    const done = async () => Number((await page.locator('.card .progress').getAttribute('data-done')) ?? -1);
    await page.locator('section[data-status="WORKING"]').waitFor({ timeout: 30_000 });
    const first = await until(async () => ((await done()) > 0 ? done() : null), 'a first progress update in the page');
    const later = await until(async () => ((await done()) >= first + 5 ? done() : null), 'the progress bar to move on');
    expect(later).toBeGreaterThan(first);
    expect(await page.locator('.card .progress progress').getAttribute('max')).toBe('60');
    await page.getByText(/ETA/).waitFor();
    await screenshot(page, 'task-detail');
    await page.locator('section[data-status="COMPLETED"]').waitFor({ timeout: 60_000 });
    expect(await page.locator('.card .progress').getAttribute('data-done')).toBe('60');
  });

  let cancelled = '';
  it('an operator cancels a running task (after confirming) and sees it CANCELLED', async () => {
    const created = await api<{ id: string }>('POST', '/tasks', { type: 'demo-report', props: { steps: 2000, stepMs: 100 } });
    cancelled = created.body.id;
    await until(async () => (await statusOf(cancelled)) === 'WORKING', 'the task to start in the runner');
    const page = await open('operator', `tasks/${cancelled}`);
    await page.locator('section[data-status="WORKING"]').waitFor();
    expect(await page.locator('button[data-action="reset"]').count()).toBe(0); // reset is admin-only
    await page.locator('button[data-action="cancel"]').click();
    const dialog = page.locator('dialog.confirm');
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain('Cancel task');
    await dialog.locator('button.danger').click();
    await page.locator('section[data-status="CANCELLED"]').waitFor({ timeout: 30_000 });
    expect(await statusOf(cancelled)).toBe('CANCELLED');
    expect(await page.locator('button[data-action="retry"]').count()).toBe(1);
  });

  it('an operator is offered no bulk actions, and the API refuses them too', async () => {
    const page = await open('operator', '');
    // An operator has no bulk permission: the page offers none; the API agrees.
    expect(await page.locator('section.bulk').count()).toBe(0);
    const res = await api<{ code: string }>('POST', '/tasks/bulk/retry', { ids: [cancelled] }, 'operator');
    expect(res.status).toBe(403);
  });

  it('a bulk retry of failed tasks reports per task', async () => {
    const page = await open('admin', '#type=legacy-import');
    await expect.poll(() => rows(page).count(), POLL).toBe(6);
    await page.locator('thead input[type="checkbox"]').check();
    await page.selectOption('#bulk-action', 'retry');
    await page.locator('button[data-bulk="selection"]').click();
    const dialog = page.locator('dialog.confirm');
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain('6 selected tasks');
    await dialog.locator('button.primary').click();
    const report = page.locator('.bulk-report');
    await report.waitFor();
    expect(await report.locator('tr[data-result="ok"]').count()).toBe(5);
    const failed = report.locator('tr[data-result="failed"]');
    expect(await failed.count()).toBe(1);
    expect(await failed.textContent()).toContain('ILLEGAL_TRANSITION');
    expect(await report.textContent()).toContain('5 succeeded, 1 failed');
    await screenshot(page, 'bulk');
  });

  it('creating a task from the form with a bad value shows the validation message at the field', async () => {
    const page = await open('admin', 'processors#type=demo-report');
    const steps = page.locator('input[data-field="steps"]');
    await steps.fill('0');
    await page.getByRole('button', { name: 'Create task' }).click();
    const error = page.locator('.field.invalid .field-error');
    await error.waitFor();
    expect(await error.textContent()).toMatch(/steps must not be less than 1/);
    expect(await steps.getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('.field.invalid label').textContent()).toContain('steps');
    const before = (await api<{ total: number }>('GET', '/tasks?type=demo-report', undefined, 'viewer')).body.total;
    await screenshot(page, 'processors');
    // Fixed, it creates the task.
    await steps.fill('3');
    await page.getByRole('button', { name: 'Create task' }).click();
    await page.getByText('Created task').waitFor();
    expect((await api<{ total: number }>('GET', '/tasks?type=demo-report', undefined, 'viewer')).body.total).toBe(before + 1);
  });

  it("the audit page shows the operator's cancel: who, what, before and after", async () => {
    const page = await open('viewer', 'audit');
    const row = page.locator(`tr[data-audit="cancel"][data-task="${cancelled}"]`);
    await row.waitFor();
    const text = await row.textContent();
    expect(text).toContain('demo-operator (operator)');
    expect(text).toContain('WORKING');
    expect(await page.locator('tr[data-audit="bulk:retry"]').count()).toBe(5);
    await screenshot(page, 'audit');
  });

  it('the resources page shows the runner alive and the seed metrics, live', async () => {
    const page = await open('viewer', 'resources');
    await page.locator('table[data-runners="1"]').waitFor();
    expect(await page.locator('[data-stat="active"] .stat-value').textContent()).toMatch(/^\d+$/);
    await page.locator('[data-paused="false"]').waitFor();
    await screenshot(page, 'resources');
  });

  it('after the server restarts, the page reconnects with Last-Event-ID and catches up on what it missed', async () => {
    const created = await api<{ id: string }>('POST', '/tasks', { type: 'demo-report', props: { steps: 40, stepMs: 150 } });
    const id = created.body.id;
    const page = await open('viewer', `tasks/${id}`);
    const streams: Array<string | undefined> = [];
    page.on('request', (r) => r.url().endsWith('/admin/events') && streams.push(r.headers()['last-event-id']));
    await page.locator('section[data-status="WORKING"]').waitFor({ timeout: 30_000 });
    await page.locator('[data-live="live"]').waitFor();
    await page.locator('ol.timeline li[data-event="started"]').waitFor(); // a stored event with an id
    // The server goes away; the runner (its own process) finishes the task meanwhile.
    await stopProcess(server);
    await page.locator('[data-live="reconnecting"]').waitFor();
    await until(async () => (await dataSource.query(`SELECT status FROM maintenance_tasks WHERE id = ?`, [id]))[0]?.status === 'COMPLETED', 'the task to complete while the server is down');
    const port = new URL(apiBase).port;
    const s = await startExampleServer(sqlitePath, { PORT: port });
    server = s.child;
    await page.locator('[data-live="live"]').waitFor({ timeout: 60_000 });
    await page.locator('section[data-status="COMPLETED"]').waitFor({ timeout: 30_000 });
    const resumed = streams.filter((h) => h !== undefined);
    expect(resumed.length).toBeGreaterThan(0);
    expect(resumed[resumed.length - 1]).toMatch(/^\d+$/);
    expect(await page.locator('ol.timeline li[data-event="completed"]').count()).toBe(1);
  });

  it('dark mode: the list is readable with dark colours', async () => {
    const page = await open('viewer', '', 'dark');
    await expect.poll(() => rows(page).count(), POLL).toBeGreaterThan(30);
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(bg).toBe('rgb(15, 19, 24)');
    await screenshot(page, 'tasks-dark');
  });
});

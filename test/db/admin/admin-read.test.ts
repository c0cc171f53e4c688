import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminHandler, Upkeep } from '../../../src';
import { dbDate, openTestDataSource, TEST_DB } from '../../helpers/db';
import { AdminSumProcessor, makeAdmin, makeUpkeep } from './admin-fixtures';

describe(`admin API read routes and auth (${TEST_DB})`, () => {
  let env: Awaited<ReturnType<typeof openTestDataSource>>;
  let upkeep: Upkeep;
  let call: ReturnType<typeof makeAdmin>;
  const ids: string[] = [];

  beforeAll(async () => {
    env = await openTestDataSource();
    upkeep = makeUpkeep(env.dataSource);
    call = makeAdmin(upkeep);
    for (let i = 0; i < 7; i++) {
      const t = await upkeep.createTask(AdminSumProcessor.create({ numbers: [i], apiToken: 'secret-token' }), { inactive: i % 2 === 0, uniqueKey: `k${i}` });
      ids.push(t.id);
    }
  });
  afterAll(async () => {
    await upkeep?.close();
    await env?.close();
  });

  it('refuses to build without authorize', () => {
    expect(() => createAdminHandler(upkeep, {} as never)).toThrow(/authorize is required/);
    expect(() => createAdminHandler(upkeep, { authorize: () => null, bogus: 1 } as never)).toThrow(/unknown option "bogus"/);
  });

  it('answers 401 without credentials and 403 naming the permission for a non-admin', async () => {
    const none = await call('GET', '/tasks');
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ code: 'UNAUTHORIZED', message: 'Authentication required' });
    const nobody = await call('GET', '/tasks', { role: 'nobody' });
    expect(nobody.status).toBe(403);
    expect(nobody.body).toMatchObject({ code: 'FORBIDDEN', details: { permission: 'tasks:read' } });
    expect((await call('GET', '/tasks', { role: 'seed-admin' })).status).toBe(200);
    expect((await call('GET', '/tasks', { role: 'viewer' })).status).toBe(200);
  });

  it('lists with cursor pagination in a stable order, a total, and filters', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await call('GET', '/tasks', { role: 'viewer', query: { limit: '3', ...(cursor ? { cursor } : {}) } });
      expect(res.status).toBe(200);
      const body = res.body as { items: Array<{ id: string }>; nextCursor: string | null; total: number };
      expect(body.total).toBe(7);
      seen.push(...body.items.map((i) => i.id));
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen.sort()).toEqual([...ids].sort());
    const inactive = await call('GET', '/tasks', { role: 'viewer', query: { status: 'INACTIVE' } });
    expect((inactive.body as { total: number }).total).toBe(4);
    const byKey = await call('GET', '/tasks', { role: 'viewer', query: { uniqueKey: 'k3' } });
    expect((byKey.body as { items: Array<{ id: string }> }).items.map((i) => i.id)).toEqual([ids[3]]);
    const byPrefix = await call('GET', '/tasks', { role: 'viewer', query: { search: ids[5]!.slice(0, 8) } });
    expect((byPrefix.body as { items: Array<{ id: string }> }).items.map((i) => i.id)).toContain(ids[5]);
  });

  it('rejects SQL in filters, unknown parameters and a huge limit with 400, reading nothing odd', async () => {
    const sql = await call('GET', '/tasks', { role: 'viewer', query: { type: "x' OR '1'='1" } });
    expect(sql.status).toBe(200);
    expect((sql.body as { total: number }).total).toBe(0);
    const badStatus = await call('GET', '/tasks', { role: 'viewer', query: { status: "PENDING'; DROP TABLE maintenance_tasks; --" } });
    expect(badStatus.status).toBe(400);
    expect((badStatus.body as { code: string }).code).toBe('INVALID_ARGUMENT');
    const search = await call('GET', '/tasks', { role: 'viewer', query: { search: "%' OR 1=1 --" } });
    expect(search.status).toBe(400);
    const huge = await call('GET', '/tasks', { role: 'viewer', query: { limit: '100000000' } });
    expect(huge.status).toBe(400);
    expect((huge.body as { message: string }).message).toMatch(/limit/);
    const unknown = await call('GET', '/tasks', { role: 'viewer', query: { colour: 'red' } });
    expect(unknown.status).toBe(400);
    expect((await upkeep.countByStatus()).INACTIVE).toBe(4);
  });

  it('shows one task with masked sensitive props, and 404 for unknown ids and routes', async () => {
    const res = await call('GET', `/tasks/${ids[1]}`, { role: 'viewer' });
    expect(res.status).toBe(200);
    const body = res.body as { props: Record<string, unknown>; status: string };
    expect(body.props).toEqual({ numbers: [1], apiToken: '[redacted]' });
    expect(JSON.stringify(res.body)).not.toContain('secret-token');
    const missing = await call('GET', '/tasks/00000000-0000-0000-0000-000000000000', { role: 'viewer' });
    expect(missing.status).toBe(404);
    expect((missing.body as { code: string }).code).toBe('TASK_NOT_FOUND');
    const route = await call('GET', '/nope', { role: 'viewer' });
    expect(route.status).toBe(404);
    expect((route.body as { code: string }).code).toBe('ROUTE_NOT_FOUND');
    const dots = await call('GET', '/tasks/../../etc/passwd', { role: 'viewer' });
    expect(dots.status).toBe(400);
    const encoded = await call('GET', '/dashboard/%2e%2e/%2e%2e/package.json', { role: 'viewer' });
    expect(encoded.status).toBe(400);
  });

  it("serves the seed's metrics and health keys, Prometheus text, processors, schedules, runners, openapi", async () => {
    const m = await call('GET', '/tasks/metrics', { role: 'viewer' });
    expect(m.status).toBe(200);
    for (const key of ['active_tasks', 'queued_tasks', 'memory_by_device', 'pool_utilization', 'average_wait_time']) expect(m.body).toHaveProperty(key);
    const text = await call('GET', '/tasks/metrics', { role: 'viewer', headers: { accept: 'text/plain' } });
    expect(text.headers['content-type']).toMatch(/^text\/plain/);
    expect(text.body as string).toMatch(/upkeep_tasks\{status="INACTIVE"\} 4/);
    expect(((await call('GET', '/metrics', { role: 'viewer' })).body as string)).toContain('# TYPE upkeep_tasks gauge');
    const h = await call('GET', `/tasks/${ids[0]}/health`, { role: 'viewer' });
    expect(Object.keys(h.body as object)).toEqual(expect.arrayContaining(['status', 'memory_usage_mb', 'processing_time_s', 'device', 'warnings']));
    const p = await call('GET', '/processors', { role: 'viewer' });
    const sum = (p.body as { items: Array<{ type: string; propsSchema: { properties: Record<string, { type?: string; items?: unknown; writeOnly?: boolean }>; required: string[] } }> }).items.find((i) => i.type === 'admin-sum')!;
    expect(sum.propsSchema.properties.numbers).toEqual({ type: 'array', items: { type: 'integer' } });
    expect(sum.propsSchema.properties.apiToken).toMatchObject({ type: 'string', maxLength: 100, writeOnly: true });
    expect(sum.propsSchema.required).toEqual(['numbers']);
    expect((await call('GET', '/schedules', { role: 'viewer' })).status).toBe(200);
    const runners = await call('GET', '/runners', { role: 'viewer' });
    expect(runners.status).toBe(200);
    expect((runners.body as { registry: boolean }).registry).toBe(true);
    const doc = (await call('GET', '/openapi.json', { role: 'viewer' })).body as { openapi: string; paths: Record<string, Record<string, { 'x-permission': string }>> };
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.paths['/tasks/{id}/start']!.post!['x-permission']).toBe('tasks:start');
    expect(doc.paths['/tasks/metrics']!.get).toBeDefined();
  });

  it("serves a task's samples and cron schedules with their next occurrence", async () => {
    await env.dataSource.query(
      `INSERT INTO task_metrics (task_id, ${TEST_DB === 'mariadb' ? '`timestamp`' : '"timestamp"'}, memory_usage_mb, device, processing_stage) VALUES (${TEST_DB === 'postgres' ? '$1, $2' : '?, ?'}, 512, 'cpu', 'load')`,
      [ids[0], dbDate(new Date('2026-06-01T00:00:00Z'))],
    );
    const samples = await call('GET', `/tasks/${ids[0]}/metrics`, { role: 'viewer' });
    expect((samples.body as { items: unknown[] }).items).toEqual([expect.objectContaining({ memoryUsageMb: 512, device: 'cpu', processingStage: 'load', timestamp: '2026-06-01T00:00:00.000Z' })]);
    const scheduled = new Upkeep({ dataSource: env.dataSource, processors: [AdminSumProcessor], clock: () => new Date('2026-06-01T10:00:00Z'), schedules: [{ name: 'nightly', cron: '0 3 * * *', timezone: 'UTC', processor: AdminSumProcessor.create({ numbers: [] }) }] });
    const res = await makeAdmin(scheduled)('GET', '/schedules', { role: 'viewer' });
    expect(res.body).toEqual({ items: [{ name: 'nightly', cron: '0 3 * * *', timezone: 'UTC', catchUp: 'latest', nextOccurrence: '2026-06-02T03:00:00.000Z' }] });
    await scheduled.close();
  });

  it('never leaks internals on an unexpected error', async () => {
    const errors: unknown[] = [];
    const broken = createAdminHandler(upkeep, { authorize: () => { throw new Error('SELECT secret FROM /etc/passwd'); }, onError: (e) => errors.push(e) });
    const res = await broken({ method: 'GET', path: '/tasks', headers: {} });
    expect(res.status).toBe(500);
    expect(JSON.stringify(res.body)).not.toMatch(/SELECT|passwd|at /);
    expect(errors).toHaveLength(1);
  });
});

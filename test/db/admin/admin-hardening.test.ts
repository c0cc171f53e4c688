import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminHandler, type Upkeep } from '../../../src';
import { createUpkeepRouter } from '../../../src/integrations/express';
import { upkeepFastifyPlugin } from '../../../src/integrations/fastify';
import { dbDate, openTestDataSource, TEST_DB, waitFor } from '../../helpers/db';
import { AdminSumProcessor, headerAuthorize, makeAdmin, makeUpkeep } from './admin-fixtures';

const p = (i: number) => (TEST_DB === 'postgres' ? `$${i}` : '?');
const q = (name: string) => (TEST_DB === 'mariadb' ? `\`${name}\`` : `"${name}"`);
const cursorOf = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const LEAK = /SELECT|INSERT|FROM |QueryFailed|out of range|at \/|node_modules|\/work\/|\.ts:\d/;

describe(`admin API hardening (${TEST_DB})`, () => {
  let env: Awaited<ReturnType<typeof openTestDataSource>>;
  let upkeep: Upkeep;
  let call: ReturnType<typeof makeAdmin>;
  const tied: string[] = [];

  beforeAll(async () => {
    env = await openTestDataSource();
    upkeep = makeUpkeep(env.dataSource);
    call = makeAdmin(upkeep);
    // 23 tasks sharing one created_at: the cursor must break ties by id.
    const created = await upkeep.createTasks(Array.from({ length: 23 }, (_, i) => ({ processor: AdminSumProcessor.create({ numbers: [i] }), uniqueKey: `tie-${i}`, inactive: true })));
    tied.push(...created.map((t) => t.id));
    await env.dataSource.query(`UPDATE maintenance_tasks SET created_at = ${p(1)} WHERE unique_key LIKE 'tie-%'`, [dbDate(new Date('2026-03-01T12:00:00.000Z'))]);
  });
  afterAll(async () => {
    await upkeep?.close();
    await env?.close();
  });

  it('pages through tasks that share one created_at without a duplicate or a gap, in the same order twice', async () => {
    const walk = async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await call('GET', '/tasks', { role: 'viewer', query: { status: 'INACTIVE', limit: '4', ...(cursor ? { cursor } : {}) } });
        expect(res.status).toBe(200);
        const body = res.body as { items: Array<{ id: string }>; nextCursor: string | null };
        seen.push(...body.items.map((i) => i.id));
        cursor = body.nextCursor;
        pages++;
      } while (cursor && pages < 50);
      return seen;
    };
    const first = await walk();
    expect(new Set(first).size).toBe(first.length);
    expect([...first].sort()).toEqual([...tied].sort());
    expect(await walk()).toEqual(first);
  });

  it('answers a tampered cursor with 400, never a database error', async () => {
    const cursors = [
      cursorOf(['-271821-04-20T00:00:00.000Z', 'a']), // a date no database stores
      cursorOf(['+275760-09-13T00:00:00.000Z', 'a']),
      cursorOf(['2026-01-01T00:00:00.000Z', "x' OR '1'='1"]),
      cursorOf(['2026-01-01T00:00:00.000Z', 42]),
      cursorOf({ at: 1 }),
      cursorOf(null),
      'not base64 !!',
    ];
    for (const cursor of cursors) {
      const res = await call('GET', '/tasks', { role: 'viewer', query: { cursor } });
      expect({ cursor, status: res.status, code: (res.body as { code: string }).code }).toEqual({ cursor, status: 400, code: 'INVALID_ARGUMENT' });
      expect(JSON.stringify(res.body)).not.toMatch(LEAK);
    }
  });

  it('answers event ids past what the database can hold with 400 (before, after, Last-Event-ID)', async () => {
    const id = tied[0]!;
    const cases = [
      await call('GET', '/audit', { role: 'viewer', query: { before: '9007199254740991' } }),
      await call('GET', `/tasks/${id}/events`, { role: 'viewer', query: { before: '99999999999' } }),
      await call('GET', '/events', { role: 'viewer', query: { after: '99999999999' } }),
      await call('GET', '/events', { role: 'viewer', headers: { 'last-event-id': '999999999999999' } }),
    ];
    for (const res of cases) {
      await (res.stream as AsyncIterable<string> | undefined)?.[Symbol.asyncIterator]().return?.();
      expect({ status: res.status, code: (res.body as { code?: string } | undefined)?.code }).toEqual({ status: 400, code: 'INVALID_ARGUMENT' });
    }
    const fine = await call('GET', '/audit', { role: 'viewer', query: { before: '2147483647' } });
    expect(fine.status).toBe(200);
  });

  it('caps the total: counts up to 1,000 and says so', async () => {
    await upkeep.createTasks(Array.from({ length: 1_001 }, (_, i) => ({ processor: AdminSumProcessor.create({ numbers: [i] }), uniqueKey: `cap-${i}` })));
    const res = await call('GET', '/tasks', { role: 'viewer', query: { status: 'PENDING', limit: '2' } });
    expect(res.body).toMatchObject({ total: 1_000, totalCapped: true });
    expect((res.body as { items: unknown[] }).items).toHaveLength(2);
    const exact = await call('GET', '/tasks', { role: 'viewer', query: { status: 'INACTIVE' } });
    expect(exact.body).toMatchObject({ total: 23, totalCapped: false });
    const none = await call('GET', '/tasks', { role: 'viewer', query: { status: 'PENDING', count: 'false', limit: '1' } });
    expect(none.body).toMatchObject({ total: null });
  });

  it('a database error answers 500 with a request id and nothing internal, and reaches onError', async () => {
    const errors: unknown[] = [];
    const handler = createAdminHandler(upkeep, { authorize: headerAuthorize, onError: (e) => errors.push(e) });
    await env.dataSource.query(`ALTER TABLE ${q('task_events')} RENAME TO ${q('task_events_moved')}`);
    let res;
    try {
      res = await handler({ method: 'GET', path: '/audit', headers: { 'x-role': 'viewer', 'x-request-id': 'req-db-1' } });
    } finally {
      await env.dataSource.query(`ALTER TABLE ${q('task_events_moved')} RENAME TO ${q('task_events')}`);
    }
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ code: 'INTERNAL', message: 'Internal error (request req-db-1)' });
    expect(res.headers['x-request-id']).toBe('req-db-1');
    expect(errors).toHaveLength(1);
    expect(String((errors[0] as Error).message)).toMatch(/task_events/);
  });

  it("the seed's metrics and health answer exactly its snake_case keys, with no camelCase key anywhere inside", async () => {
    const camel: string[] = [];
    const walk = (v: unknown, at: string) => {
      if (!v || typeof v !== 'object') return;
      for (const [k, x] of Object.entries(v)) {
        if (/[a-z][A-Z]/.test(k)) camel.push(`${at}.${k}`);
        walk(x, `${at}.${k}`);
      }
    };
    const m = await call('GET', '/tasks/metrics', { role: 'viewer' });
    expect(Object.keys(m.body as object).slice(0, 5)).toEqual(['active_tasks', 'queued_tasks', 'memory_by_device', 'pool_utilization', 'average_wait_time']);
    expect(m.body).toMatchObject({ active_tasks: { total: 0 }, queued_tasks: { total: expect.any(Number) }, memory_by_device: { cpu: expect.any(Object) } });
    const h = await call('GET', `/tasks/${tied[0]}/health`, { role: 'viewer' });
    expect(Object.keys(h.body as object).slice(0, 5)).toEqual(['status', 'memory_usage_mb', 'processing_time_s', 'device', 'warnings']);
    expect(h.body).toMatchObject({ status: 'INACTIVE', memory_usage_mb: null, processing_time_s: null, warnings: expect.any(Array) });
    walk(m.body, 'metrics');
    walk(h.body, 'health');
    expect(camel).toEqual([]);
  });

  it('HEAD answers the headers of a GET without a body or an open event stream', async () => {
    const events = await call('HEAD', '/events', { role: 'viewer' });
    expect(events.status).toBe(200);
    expect(events.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(events.stream).toBeUndefined();
    const list = await call('HEAD', '/tasks', { role: 'viewer' });
    expect(list.status).toBe(200);
    expect(list.body).toBeUndefined();
  });

  it('GET /me names the principal and lists its permissions (no permission needed beyond being signed in)', async () => {
    const viewer = await call('GET', '/me', { role: 'viewer' });
    expect(viewer.status).toBe(200);
    expect(viewer.body).toEqual({
      principal: { id: 'viewer-1', name: null, admin: false, roles: ['viewer'] },
      permissions: ['tasks:read', 'metrics:read', 'processors:read', 'runners:read', 'schedules:read', 'audit:read', 'events:read', 'dashboard:read', 'openapi:read'],
    });
    const operator = (await call('GET', '/me', { role: 'operator' })).body as { permissions: string[] };
    expect(operator.permissions).toEqual(expect.arrayContaining(['tasks:cancel', 'tasks:start']));
    expect(operator.permissions).not.toContain('tasks:reset');
    const seed = (await call('GET', '/me', { role: 'seed-admin' })).body as { principal: { admin: boolean }; permissions: string[] };
    expect(seed.principal.admin).toBe(true);
    expect(seed.permissions).toEqual(expect.arrayContaining(['tasks:reset', 'tasks:bulk', 'tasks:create']));
    const nobody = await call('GET', '/me', { role: 'nobody' });
    expect(nobody.status).toBe(200);
    expect((nobody.body as { permissions: string[] }).permissions).toEqual([]);
    expect((await call('GET', '/me')).status).toBe(401);
    const custom = createAdminHandler(upkeep, { authorize: () => ({ id: 7, name: 'Ada', secret: 'x' }) as never, policy: (_p, action) => action === 'tasks:read' });
    const me = await custom({ method: 'GET', path: '/me' });
    expect(me.body).toEqual({ principal: { id: '7', name: 'Ada', admin: false, roles: [] }, permissions: ['tasks:read'] });
    const doc = (await call('GET', '/openapi.json', { role: 'viewer' })).body as { paths: Record<string, { get?: { 'x-permission': unknown } }> };
    expect(doc.paths['/me']?.get?.['x-permission']).toBeNull();
  });
});

describe(`admin API policy, create options and masking (${TEST_DB})`, () => {
  let env: Awaited<ReturnType<typeof openTestDataSource>>;
  let upkeep: Upkeep;
  let call: ReturnType<typeof makeAdmin>;
  beforeAll(async () => {
    env = await openTestDataSource();
    upkeep = makeUpkeep(env.dataSource);
    call = makeAdmin(upkeep);
  });
  afterAll(async () => {
    await upkeep?.close();
    await env?.close();
  });

  it('a custom policy decides per action and per task; bulk reports the denied task on its own', async () => {
    const [guarded, free, other] = await upkeep.createTasks(['protected', 'free', 'other'].map((k) => ({ processor: AdminSumProcessor.create({ numbers: [1] }), uniqueKey: k, inactive: true })));
    const handler = createAdminHandler(upkeep, {
      authorize: () => ({ id: 'ops' }),
      policy: (_p, action, task) => action === 'tasks:read' || action === 'tasks:bulk' || (action === 'tasks:cancel' && task?.uniqueKey !== 'protected'),
    });
    const post = (path: string, body?: unknown) => handler({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const denied = await post(`/tasks/${guarded!.id}/cancel`);
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({ code: 'FORBIDDEN', details: { permission: 'tasks:cancel' } });
    expect((await upkeep.getTask(guarded!.id))!.status).toBe('INACTIVE');
    expect((await post(`/tasks/${free!.id}/cancel`)).status).toBe(200);
    expect((await post(`/tasks/${free!.id}/pause`)).status).toBe(403); // not an action this policy grants
    const bulk = await post('/tasks/bulk/cancel', { ids: [guarded!.id, other!.id] });
    expect(bulk.body).toMatchObject({ succeeded: 1, failed: 1 });
    expect((bulk.body as { results: unknown[] }).results).toEqual([
      { id: guarded!.id, ok: false, status: 'INACTIVE', error: expect.objectContaining({ code: 'FORBIDDEN' }) },
      { id: other!.id, ok: true, status: 'CANCELLED' },
    ]);
    expect((await upkeep.getTask(guarded!.id))!.status).toBe('INACTIVE');
  });

  it.runIf(TEST_DB === 'postgres')('a database error on one task of a bulk action is reported for that task; the others still run; nothing internal leaks', async () => {
    const [broken, fine] = await upkeep.createTasks(['bulk-broken', 'bulk-fine'].map((k) => ({ processor: AdminSumProcessor.create({ numbers: [1] }), uniqueKey: k, inactive: true })));
    await env.dataSource.query(`CREATE FUNCTION upkeep_test_refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused by SELECT secret FROM /etc/passwd'; END $$ LANGUAGE plpgsql`);
    await env.dataSource.query(`CREATE TRIGGER upkeep_test_refuse BEFORE UPDATE ON maintenance_tasks FOR EACH ROW WHEN (OLD.unique_key = 'bulk-broken') EXECUTE FUNCTION upkeep_test_refuse()`);
    const errors: unknown[] = [];
    const handler = createAdminHandler(upkeep, { authorize: headerAuthorize, onError: (e) => errors.push(e) });
    let res;
    try {
      res = await handler({ method: 'POST', path: '/tasks/bulk/start', headers: { 'x-role': 'admin', 'content-type': 'application/json', 'x-request-id': 'bulk-1' }, body: JSON.stringify({ ids: [broken!.id, fine!.id] }) });
    } finally {
      await env.dataSource.query('DROP TRIGGER upkeep_test_refuse ON maintenance_tasks');
      await env.dataSource.query('DROP FUNCTION upkeep_test_refuse()');
    }
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ succeeded: 1, failed: 1 });
    expect((res.body as { results: unknown[] }).results).toEqual([
      { id: broken!.id, ok: false, status: 'INACTIVE', error: { code: 'INTERNAL', message: 'Internal error (request bulk-1)' } },
      { id: fine!.id, ok: true, status: 'PENDING' },
    ]);
    expect(JSON.stringify(res.body)).not.toMatch(/passwd|SELECT/);
    expect(errors).toHaveLength(1);
  });

  it('creates with startAt, delayMs, maxAttempts, dependsOn through the API; an unknown dependency is a 400 storing nothing', async () => {
    // Within 24 days: the delay column is a 32-bit count of milliseconds (see the report).
    const at = new Date(Math.ceil((Date.now() + 5 * 86_400_000) / 1000) * 1000).toISOString();
    const first = (await call('POST', '/tasks', { role: 'admin', body: { type: 'admin-sum', props: { numbers: [1] }, options: { startAt: at, maxAttempts: 2 } } })).body as { id: string; startAt: string; maxAttempts: number };
    expect(first).toMatchObject({ startAt: at, maxAttempts: 2 });
    const delayed = await call('POST', '/tasks', { role: 'admin', body: { type: 'admin-sum', props: { numbers: [2] }, options: { delayMs: 3_600_000, dependsOn: [first.id] } } });
    expect(delayed.status).toBe(201);
    const row = (await upkeep.getTask((delayed.body as { id: string }).id))!;
    expect(row.startAt.getTime()).toBeGreaterThan(Date.now() + 3_000_000);
    expect(row.dependsOnCount).toBe(1);
    const count = async () => Number((await env.dataSource.query('SELECT COUNT(*) AS n FROM maintenance_tasks'))[0].n);
    const before = await count();
    const unknown = await call('POST', '/tasks', { role: 'admin', body: { type: 'admin-sum', props: { numbers: [3] }, options: { dependsOn: ['00000000-0000-4000-8000-000000000000'] } } });
    expect({ status: unknown.status, code: (unknown.body as { code: string }).code }).toEqual({ status: 400, code: 'INVALID_ARGUMENT' });
    expect(await count()).toBe(before);
  });

  it('@Sensitive() props stay masked in the task timeline, the audit list, the event stream, stored rows and 400 answers', async () => {
    const secret = 'sekrit-7f3a';
    const created = await call('POST', '/tasks', { role: 'admin', body: { type: 'admin-sum', props: { numbers: [1], apiToken: secret }, options: { inactive: true } } });
    const id = (created.body as { id: string }).id;
    await call('POST', `/tasks/${id}/start`, { role: 'admin' });
    await upkeep.internals.recorder.flush();
    const timeline = await call('GET', `/tasks/${id}/events`, { role: 'viewer' });
    const audit = await call('GET', '/audit', { role: 'viewer', query: { taskId: id } });
    for (const res of [created, timeline, audit]) {
      expect(JSON.stringify(res.body)).toContain('[redacted]');
      expect(JSON.stringify(res.body)).not.toContain(secret);
    }
    const sse = await call('GET', '/events', { role: 'viewer', query: { taskId: id, after: '0' } });
    const iterator = sse.stream![Symbol.asyncIterator]();
    let text = '';
    while (!/"action":"start"/.test(text)) text += (await iterator.next()).value ?? '';
    await iterator.return!();
    expect(text).toContain('"apiToken":"[redacted]"');
    expect(text).not.toContain(secret);
    const stored = await env.dataSource.query('SELECT details FROM task_events');
    expect(JSON.stringify(stored)).not.toContain(secret);
    const tooLong = await call('POST', '/tasks', { role: 'admin', body: { type: 'admin-sum', props: { numbers: [1], apiToken: `${secret}${'x'.repeat(200)}` } } });
    expect(tooLong.status).toBe(400);
    expect(JSON.stringify(tooLong.body)).not.toContain(secret);
  });
});

describe(`admin adapters under many event-stream clients (${TEST_DB})`, () => {
  let env: Awaited<ReturnType<typeof openTestDataSource>>;
  beforeAll(async () => {
    env = await openTestDataSource();
  });
  afterAll(async () => {
    await env?.close();
  });

  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const listening = async () =>
    TEST_DB === 'postgres' ? Number((await env.dataSource.query(`SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN upkeep_events%'`))[0].n) : 0;

  it.each(['express', 'fastify'] as const)('%s: 40 clients connect and go away; no timer, listener or connection is left behind', async (framework) => {
    const upkeep = makeUpkeep(env.dataSource);
    const opts = { authorize: headerAuthorize, ssePollIntervalMs: 20, sseKeepAliveMs: 1_000 };
    let base: string;
    let close: () => Promise<void>;
    if (framework === 'express') {
      const app = express();
      app.use('/admin', createUpkeepRouter(upkeep, opts));
      const server = app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/admin`;
      close = async () => (server.closeAllConnections(), await new Promise((r) => server.close(() => r(undefined))));
    } else {
      const app = Fastify();
      await app.register(upkeepFastifyPlugin, { upkeep, ...opts, prefix: '/admin' });
      await app.listen({ port: 0, host: '127.0.0.1' });
      base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/admin`;
      close = async () => (app.server.closeAllConnections(), await app.close());
    }
    const task = await upkeep.createTask(AdminSumProcessor.create({ numbers: [1] }), { inactive: true });
    let baseline = Infinity;
    // Round 0 warms up (the database pool grows to what ten streams need, each idle
    // connection with its idle timer); the baseline is taken after it.
    for (let round = 0; round < 5; round++) {
      if (round === 1) baseline = timers();
      const clients = await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const ac = new AbortController();
          const res = await fetch(`${base}/events${i % 2 ? `?taskId=${task.id}` : ''}`, { headers: { 'x-role': 'viewer' }, signal: ac.signal });
          const reader = res.body!.getReader();
          const first = new TextDecoder().decode((await reader.read()).value);
          expect(first).toContain('connected');
          return ac;
        }),
      );
      if (TEST_DB === 'postgres') expect(await listening()).toBe(1); // one shared LISTEN connection, however many clients
      for (const ac of clients) ac.abort();
      if (round === 0) await waitFor(async () => (await listening()) === 0, 10_000);
      else await waitFor(async () => timers() <= baseline + 2 && (await listening()) === 0, 10_000);
    }
    expect(timers()).toBeLessThanOrEqual(baseline + 2);
    if (TEST_DB === 'postgres') {
      const pool = (env.dataSource.driver as unknown as { master: { totalCount: number; idleCount: number } }).master;
      expect(pool.totalCount - pool.idleCount).toBe(0); // every pooled connection is back
    }
    await close();
    await upkeep.close();
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminHandler, Upkeep } from '../../../src';
import { dbDate, openTestDataSource, TEST_DB } from '../../helpers/db';
import { AdminSumProcessor, headerAuthorize, makeAdmin, makeUpkeep } from './admin-fixtures';

type Body = Record<string, unknown> & { code?: string; details?: unknown };

describe(`admin API mutations, audit and bad requests (${TEST_DB})`, () => {
  let env: Awaited<ReturnType<typeof openTestDataSource>>;
  let upkeep: Upkeep;
  let call: ReturnType<typeof makeAdmin>;

  /** Every row of the task table and the event count: "no row changed" is checked against this. */
  const snapshot = async () => {
    await upkeep.internals.recorder.flush(); // lifecycle events are written in batches: settle them first
    const tasks = await env.dataSource.query('SELECT id, status, version, start_at FROM maintenance_tasks ORDER BY id');
    const events = await env.dataSource.query('SELECT COUNT(*) AS n FROM task_events');
    return JSON.stringify({ tasks, events: Number(events[0].n) });
  };

  beforeAll(async () => {
    env = await openTestDataSource();
    upkeep = makeUpkeep(env.dataSource);
    call = makeAdmin(upkeep);
  });
  afterAll(async () => {
    await upkeep?.close();
    await env?.close();
  });

  it('creates a task from a type and props, audited with the props masked', async () => {
    const res = await call('POST', '/tasks', { role: 'admin', body: { type: 'admin-sum', props: { numbers: [1, 2], apiToken: 'hunter2' }, options: { inactive: true, priority: 5, uniqueKey: 'create-1' } } });
    expect(res.status).toBe(201);
    const task = res.body as { id: string; status: string; priority: number; props: Record<string, unknown> };
    expect(task).toMatchObject({ status: 'INACTIVE', priority: 5, props: { numbers: [1, 2], apiToken: '[redacted]' } });
    const audit = (await call('GET', '/audit', { role: 'viewer' })).body as { items: Array<{ taskId: string; details: Record<string, unknown> }> };
    const entry = audit.items.find((i) => i.taskId === task.id)!;
    expect(entry.details).toMatchObject({ action: 'create', actor: { id: 'admin-1' }, statusBefore: null, statusAfter: 'INACTIVE', props: { apiToken: '[redacted]' } });
    const stored = await env.dataSource.query(`SELECT details FROM task_events WHERE event_type = 'audit'`);
    expect(JSON.stringify(stored)).not.toContain('hunter2');
  });

  it('rejects bad creates with 400 listing every failing property, and stores nothing', async () => {
    const before = await snapshot();
    const invalid = await call('POST', '/tasks', { role: 'admin', body: { type: 'admin-sum', props: { numbers: ['a'], apiToken: 7, colour: 'red' } } });
    expect(invalid.status).toBe(400);
    expect(invalid.body).toMatchObject({ code: 'PROCESSOR_VALIDATION' });
    const props = (invalid.body as { details: Array<{ property: string }> }).details.map((d) => d.property).sort();
    expect(props).toEqual(['apiToken', 'colour', 'numbers']);
    const wrongTypes = await call('POST', '/tasks', { role: 'admin', body: { type: 5, props: [], options: { priority: 'high' } } });
    expect(wrongTypes.status).toBe(400);
    expect((wrongTypes.body as { details: Array<{ property: string }> }).details.map((d) => d.property)).toEqual(['body.type', 'body.props', 'body.options.priority']);
    const unknownField = await call('POST', '/tasks', { role: 'admin', body: { type: 'admin-sum', props: { numbers: [] }, owner: 'me' } });
    expect(unknownField.status).toBe(400);
    expect(JSON.stringify(unknownField.body)).toContain('body.owner');
    const unknownType = await call('POST', '/tasks', { role: 'admin', body: { type: 'no-such', props: {} } });
    expect(unknownType.status).toBe(400);
    const malformed = await call('POST', '/tasks', { role: 'admin', raw: '{"type": "admin-sum",' });
    expect(malformed.status).toBe(400);
    expect((malformed.body as Body).code).toBe('INVALID_ARGUMENT');
    const huge = await call('POST', '/tasks', { role: 'admin', raw: JSON.stringify({ type: 'admin-sum', props: { numbers: new Array(700_000).fill(1) } }) });
    expect(huge.status).toBe(413);
    expect((huge.body as Body).code).toBe('PAYLOAD_TOO_LARGE');
    const text = await call('POST', '/tasks', { role: 'admin', raw: 'type=admin-sum', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(text.status).toBe(415);
    expect((text.body as Body).code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const operator = await call('POST', '/tasks', { role: 'operator', body: { type: 'admin-sum', props: { numbers: [] } } });
    expect(operator.status).toBe(403);
    expect(operator.body).toMatchObject({ details: { permission: 'tasks:create' } });
    expect(await snapshot()).toBe(before);
  });

  it('POST /tasks/:id/start makes an INACTIVE task due now, pinned to a device; 409 with the current status after that', async () => {
    const task = await upkeep.createTask(AdminSumProcessor.create({ numbers: [3] }), { inactive: true, startAt: new Date(Date.now() + 86_400_000) });
    const res = await call('POST', `/tasks/${task.id}/start`, { role: 'operator', body: { device: 'cuda:0' } });
    expect(res.status).toBe(200);
    const after = await upkeep.getTask(task.id);
    expect(after!.status).toBe('PENDING');
    expect(after!.startAt.getTime()).toBeLessThanOrEqual(Date.now());
    expect(after!.runnerInfo?.placement).toMatchObject({ device: 'cuda:0' });
    expect(after!.assignedDevice).toBe('cuda:0');
    const before = await snapshot();
    const again = await call('POST', `/tasks/${task.id}/start`, { role: 'operator' });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'ILLEGAL_TRANSITION', details: { currentStatus: 'PENDING' } });
    const badDevice = await call('POST', `/tasks/${task.id}/start`, { role: 'operator', body: { device: "cuda:0'; --" } });
    expect(badDevice.status).toBe(400);
    expect(await snapshot()).toBe(before);
    const trail = (await call('GET', `/tasks/${task.id}/events`, { role: 'viewer' })).body as { items: Array<{ type: string; details: Record<string, unknown> }> };
    expect(trail.items.find((e) => e.type === 'audit')!.details).toMatchObject({ action: 'start', statusBefore: 'INACTIVE', statusAfter: 'PENDING', device: 'cuda:0', requestId: expect.any(String) });
  });

  it('a task pinned to a device no runner has fails with device_unavailable instead of running elsewhere', async () => {
    const task = await upkeep.createTask(AdminSumProcessor.create({ numbers: [8] }), { inactive: true });
    expect((await call('POST', `/tasks/${task.id}/start`, { role: 'operator', body: { device: 'cuda:7' } })).status).toBe(200);
    await upkeep.runDue(); // this process's devices: the CPU only
    const after = await upkeep.getTask(task.id);
    expect(after).toMatchObject({ status: 'ERROR', failureReason: 'device_unavailable' });
    const untracked = new Upkeep({ dataSource: env.dataSource, processors: [AdminSumProcessor], settings: { enableResourceTracking: false } });
    const other = await untracked.createTask(AdminSumProcessor.create({ numbers: [9] }), { inactive: true });
    const refused = await makeAdmin(untracked)('POST', `/tasks/${other.id}/start`, { role: 'operator', body: { device: 'cuda:0' } });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toContain('enableResourceTracking');
    expect((await untracked.getTask(other.id))!.status).toBe('INACTIVE');
    await untracked.close();
  });

  it('a viewer cannot cancel (403, nothing changes); an operator can; unknown ids are 404', async () => {
    const task = await upkeep.createTask(AdminSumProcessor.create({ numbers: [4] }));
    const before = await snapshot();
    const viewer = await call('POST', `/tasks/${task.id}/cancel`, { role: 'viewer' });
    expect(viewer.status).toBe(403);
    expect(viewer.body).toMatchObject({ code: 'FORBIDDEN', details: { permission: 'tasks:cancel' } });
    const nobody = await call('POST', `/tasks/${task.id}/cancel`, { role: 'nobody' });
    expect(nobody.status).toBe(403);
    const anonymous = await call('POST', `/tasks/${task.id}/cancel`);
    expect(anonymous.status).toBe(401);
    const unknown = await call('POST', '/tasks/11111111-2222-3333-4444-555555555555/cancel', { role: 'operator' });
    expect(unknown.status).toBe(404);
    const extra = await call('POST', `/tasks/${task.id}/cancel`, { role: 'operator', body: { reason: 'x' } });
    expect(extra.status).toBe(400);
    expect(await snapshot()).toBe(before);
    const ok = await call('POST', `/tasks/${task.id}/cancel`, { role: 'operator', headers: { 'x-request-id': 'req-42' } });
    expect(ok.status).toBe(200);
    expect(ok.headers['x-request-id']).toBe('req-42');
    expect((await upkeep.getTask(task.id))!.status).toBe('CANCELLED');
    const audit = (await call('GET', '/audit', { role: 'viewer', query: { taskId: task.id } })).body as { items: Array<{ details: Record<string, unknown> }> };
    expect(audit.items[0]!.details).toMatchObject({ action: 'cancel', statusBefore: 'PENDING', statusAfter: 'CANCELLED', requestId: 'req-42', actor: { id: 'operator-1' } });
    const retry = await call('POST', `/tasks/${task.id}/retry`, { role: 'operator' });
    expect(retry.status).toBe(200);
    expect((await upkeep.getTask(task.id))!.status).toBe('PENDING');
    expect((await call('POST', `/tasks/${task.id}/pause`, { role: 'operator' })).status).toBe(200);
    expect((await call('POST', `/tasks/${task.id}/resume`, { role: 'operator' })).status).toBe(200);
    expect((await upkeep.getTask(task.id))!.status).toBe('PENDING');
  });

  it('resets a stuck WORKING task (expired lease), 409 while the lease is live unless forced; admin only', async () => {
    const task = await upkeep.createTask(AdminSumProcessor.create({ numbers: [5] }));
    const live = new Date(Date.now() + 600_000);
    await env.dataSource.query(`UPDATE maintenance_tasks SET status = 'WORKING', locked_by = 'dead-runner', lease_expires_at = ${TEST_DB === 'postgres' ? '$1' : '?'} WHERE id = ${TEST_DB === 'postgres' ? '$2' : '?'}`, [dbDate(live), task.id]);
    expect((await call('POST', `/tasks/${task.id}/reset`, { role: 'operator' })).status).toBe(403);
    const liveLease = await call('POST', `/tasks/${task.id}/reset`, { role: 'admin' });
    expect(liveLease.status).toBe(409);
    expect((liveLease.body as { message: string }).message).toMatch(/lease is live/);
    const forced = await call('POST', `/tasks/${task.id}/reset`, { role: 'admin', body: { force: true } });
    expect(forced.status).toBe(200);
    const after = await upkeep.getTask(task.id);
    expect(after).toMatchObject({ status: 'PENDING', lockedBy: null });
  });

  it('bulk actions on ids and on a filter report per task; admin only; bounded', async () => {
    const a = await upkeep.createTask(AdminSumProcessor.create({ numbers: [6] }), { inactive: true, uniqueKey: 'bulk-a' });
    const b = await upkeep.createTask(AdminSumProcessor.create({ numbers: [7] }), { uniqueKey: 'bulk-b' });
    expect((await call('POST', '/tasks/bulk/start', { role: 'operator', body: { ids: [a.id] } })).status).toBe(403);
    const res = await call('POST', '/tasks/bulk/start', { role: 'admin', body: { ids: [a.id, b.id, '99999999-0000-0000-0000-000000000000'] } });
    expect(res.status).toBe(200);
    const results = (res.body as { results: Array<{ id: string; ok: boolean; status: string | null; error?: { code: string } }> }).results;
    expect(results).toEqual([
      { id: a.id, ok: true, status: 'PENDING' },
      { id: b.id, ok: false, status: 'PENDING', error: expect.objectContaining({ code: 'ILLEGAL_TRANSITION' }) },
      { id: '99999999-0000-0000-0000-000000000000', ok: false, status: null, error: expect.objectContaining({ code: 'TASK_NOT_FOUND' }) },
    ]);
    const byFilter = await call('POST', '/tasks/bulk/cancel', { role: 'admin', body: { filter: { uniqueKey: 'bulk-b' } } });
    expect((byFilter.body as { results: Array<{ id: string; ok: boolean }> }).results).toEqual([{ id: b.id, ok: true, status: 'CANCELLED' }]);
    const both = await call('POST', '/tasks/bulk/cancel', { role: 'admin', body: { ids: [a.id], filter: {} } });
    expect(both.status).toBe(400);
    const sqlFilter = await call('POST', '/tasks/bulk/cancel', { role: 'admin', body: { filter: { status: ["PENDING' OR 1=1 --"] } } });
    expect(sqlFilter.status).toBe(400);
    const badAction = await call('POST', '/tasks/bulk/explode', { role: 'admin', body: { ids: [a.id] } });
    expect(badAction.status).toBe(400);
  });

  it('rate limit answers 429 with Retry-After', async () => {
    const limited = createAdminHandler(upkeep, { authorize: headerAuthorize, rateLimit: { max: 2, windowMs: 60_000 } });
    const req = { method: 'GET', path: '/tasks/metrics', headers: { 'x-role': 'viewer' } };
    expect((await limited(req)).status).toBe(200);
    expect((await limited(req)).status).toBe(200);
    const third = await limited(req);
    expect(third.status).toBe(429);
    expect(third.body).toMatchObject({ code: 'RATE_LIMITED' });
    expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
  });
});

describe(`facade audit writer (${TEST_DB})`, () => {
  it('auditAction stores actor, action, before/after for a facade call, and nothing when the action throws', async () => {
    const { auditAction } = await import('../../../src');
    const env = await openTestDataSource();
    const upkeep = makeUpkeep(env.dataSource);
    try {
      const task = await upkeep.createTask(AdminSumProcessor.create({ numbers: [1] }));
      const done = await auditAction(upkeep, { actor: { id: 'cli-user' }, requestId: 'cli-1' }, 'cancel', task.id, () => upkeep.cancelTask(task.id));
      expect(done.status).toBe('CANCELLED');
      await expect(auditAction(upkeep, { actor: { id: 'cli-user' } }, 'pause', task.id, () => upkeep.pauseTask(task.id))).rejects.toThrow(/cannot go from CANCELLED/);
      const rows = await env.dataSource.query(`SELECT details FROM task_events WHERE event_type = 'audit'`);
      const details = rows.map((r: { details: unknown }) => (typeof r.details === 'string' ? JSON.parse(r.details) : r.details));
      expect(details).toEqual([expect.objectContaining({ action: 'cancel', actor: { id: 'cli-user' }, statusBefore: 'PENDING', statusAfter: 'CANCELLED', requestId: 'cli-1', source: 'facade' })]);
    } finally {
      await upkeep.close();
      await env.close();
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminHandler, type Upkeep } from '../../../src';
import { dbDate, openTestDataSource, TEST_DB } from '../../helpers/db';
import { AdminSumProcessor, headerAuthorize, makeUpkeep } from './admin-fixtures';

const p = (i: number) => (TEST_DB === 'postgres' ? `$${i}` : '?');

describe(`admin event stream (${TEST_DB})`, () => {
  let env: Awaited<ReturnType<typeof openTestDataSource>>;
  let upkeep: Upkeep;

  beforeAll(async () => {
    env = await openTestDataSource();
    upkeep = makeUpkeep(env.dataSource);
  });
  afterAll(async () => {
    await upkeep?.close();
    await env?.close();
  });

  /** Reads chunks until `pattern` shows up in the text, or `timeoutMs`. */
  async function readUntil(iterator: AsyncIterator<string>, pattern: RegExp, timeoutMs: number): Promise<string> {
    let text = '';
    const end = Date.now() + timeoutMs;
    while (!pattern.test(text)) {
      if (Date.now() > end) throw new Error(`no ${pattern} within ${timeoutMs} ms: ${text}`);
      const next = await Promise.race([iterator.next(), new Promise<null>((r) => setTimeout(() => r(null), end - Date.now()))]);
      if (next === null) continue;
      if (next.done) throw new Error('stream ended');
      text += next.value;
    }
    return text;
  }

  it('sends stored events with their id, resumes after Last-Event-ID, masks nothing it should not, and ends on return()', async () => {
    const admin = createAdminHandler(upkeep, { authorize: headerAuthorize, ssePollIntervalMs: 30 });
    const task = await upkeep.createTask(AdminSumProcessor.create({ numbers: [1] }), { inactive: true });
    await upkeep.internals.recorder.flush();
    const res = await admin({ method: 'GET', path: '/events', query: { after: '0', taskId: task.id }, headers: { 'x-role': 'viewer' } });
    expect(res.status).toBe(200);
    const it1 = res.stream![Symbol.asyncIterator]();
    const text = await readUntil(it1, /event: created/, 10_000);
    const id = Number(/id: (\d+)\nevent: created/.exec(text)![1]);
    await admin({ method: 'POST', path: `/tasks/${task.id}/start`, headers: { 'x-role': 'admin' } });
    await readUntil(it1, /event: audit/, 10_000);
    expect((await it1.return!()).done).toBe(true);
    expect((await it1.next()).done).toBe(true);
    const resumed = await admin({ method: 'GET', path: '/events', query: { taskId: task.id }, headers: { 'x-role': 'viewer', 'last-event-id': String(id) } });
    const it2 = resumed.stream![Symbol.asyncIterator]();
    const again = await readUntil(it2, /event: audit/, 10_000);
    expect(again).not.toContain('event: created');
    await it2.return!();
    const bad = await admin({ method: 'GET', path: '/events', headers: { 'x-role': 'viewer', 'last-event-id': "1; DROP TABLE task_events" } });
    expect(bad.status).toBe(400);
    const unknown = await admin({ method: 'GET', path: '/events', query: { taskId: '00000000-0000-0000-0000-00000000dead' }, headers: { 'x-role': 'viewer' } });
    expect(unknown.status).toBe(404);
  });

  it('synthesises progress events from the progress columns another process writes', async () => {
    const admin = createAdminHandler(upkeep, { authorize: headerAuthorize, ssePollIntervalMs: 30 });
    const task = await upkeep.createTask(AdminSumProcessor.create({ numbers: [2] }));
    const res = await admin({ method: 'GET', path: '/events', query: { taskId: task.id }, headers: { 'x-role': 'viewer' } });
    const iterator = res.stream![Symbol.asyncIterator]();
    await readUntil(iterator, /connected/, 5000);
    // What a runner elsewhere writes (ctx.progress): status WORKING, progress and updated_at.
    await env.dataSource.query(
      `UPDATE maintenance_tasks SET status = 'WORKING', progress_done = 3, progress_total = 10, updated_at = ${p(1)} WHERE id = ${p(2)}`,
      [dbDate(new Date(Date.now() + 5)), task.id],
    );
    const text = await readUntil(iterator, /event: progress/, 10_000);
    expect(text).toContain(`"taskId":"${task.id}","type":"admin-sum","done":3,"total":10`);
    await iterator.return!();
  });

  it.runIf(TEST_DB === 'postgres')('on PostgreSQL a NOTIFY trigger wakes the stream long before its next poll', async () => {
    const admin = createAdminHandler(upkeep, { authorize: headerAuthorize, ssePollIntervalMs: 60_000 });
    const task = await upkeep.createTask(AdminSumProcessor.create({ numbers: [3] }), { inactive: true });
    await upkeep.internals.recorder.flush();
    const res = await admin({ method: 'GET', path: '/events', query: { taskId: task.id }, headers: { 'x-role': 'viewer' } });
    const iterator = res.stream![Symbol.asyncIterator]();
    await readUntil(iterator, /connected/, 5000);
    const pending = iterator.next(); // the stream reads, finds nothing, and sleeps in its 60 s poll
    await new Promise((r) => setTimeout(r, 500));
    const started = Date.now();
    await admin({ method: 'POST', path: `/tasks/${task.id}/start`, headers: { 'x-role': 'admin' } });
    const next = await Promise.race([pending, new Promise<null>((r) => setTimeout(() => r(null), 15_000))]);
    expect(next, 'woken by NOTIFY, not by the 60 s poll').not.toBeNull();
    expect(next!.value).toContain('event: audit');
    expect(Date.now() - started).toBeLessThan(15_000);
    await iterator.return!();
  });
});

import { describe, expect, it } from 'vitest';
import { openTestDataSource, TEST_DB } from '../../helpers/db';
import { AdminSumProcessor, makeUpkeep } from './admin-fixtures';

// "Every mutating action, through the API or through the facade with an actor given, is stored."
describe(`facade actions with an actor are audited on ${TEST_DB}`, () => {
  it('cancel, retry, pause, resume and activate with `by` store one audit row each; without `by` nothing', async () => {
    const env = await openTestDataSource();
    const upkeep = makeUpkeep(env.dataSource);
    try {
      const by = { actor: { id: 'ops-1' }, requestId: 'r-1' };
      const a = await upkeep.createTask(AdminSumProcessor.create({ numbers: [1] }));
      const b = await upkeep.createTask(AdminSumProcessor.create({ numbers: [2] }), { inactive: true });
      await upkeep.pauseTask(a.id, by);
      await upkeep.resumeTask(a.id, by);
      await upkeep.cancelTask(a.id, by);
      await upkeep.retryTask(a.id, by);
      await upkeep.activateTask(b.id, by);
      await upkeep.cancelTask(b.id); // no actor: not audited
      await expect(upkeep.resumeTask(b.id, by)).rejects.toThrow(/CANCELLED/); // refused: nothing stored
      const rows = await env.dataSource.query(`SELECT task_id, details FROM task_events WHERE event_type = 'audit' ORDER BY id`);
      const entries = rows.map((r: { task_id: string; details: unknown }) => ({ taskId: r.task_id, ...(typeof r.details === 'string' ? JSON.parse(r.details) : r.details) }));
      expect(entries.map((e: { action: string; statusBefore: string; statusAfter: string }) => [e.action, e.statusBefore, e.statusAfter])).toEqual([
        ['pause', 'PENDING', 'PAUSED'],
        ['resume', 'PAUSED', 'PENDING'],
        ['cancel', 'PENDING', 'CANCELLED'],
        ['retry', 'CANCELLED', 'PENDING'],
        ['start', 'INACTIVE', 'PENDING'],
      ]);
      expect(entries.every((e: { actor: unknown; requestId: string; source: string }) => e.requestId === 'r-1' && e.source === 'facade')).toBe(true);
      expect(entries[0].actor).toEqual({ id: 'ops-1' });
    } finally {
      await upkeep.close();
      await env.close();
    }
  });
});

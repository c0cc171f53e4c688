import { describe, expect, it } from 'vitest';
import { openTestDataSource, TEST_DB } from '../../helpers/db';
import { AdminSumProcessor, makeAdmin, makeUpkeep } from './admin-fixtures';

describe(`GET /tasks/:id lists dependencies both ways on ${TEST_DB}`, () => {
  it('a task shows what it waits for, and the tasks waiting for it', async () => {
    const env = await openTestDataSource();
    const upkeep = makeUpkeep(env.dataSource);
    try {
      const call = makeAdmin(upkeep);
      const a = await upkeep.createTask(AdminSumProcessor.create({ numbers: [1] }), { inactive: true });
      const b = await upkeep.createTask(AdminSumProcessor.create({ numbers: [2] }), { inactive: true });
      const c = await upkeep.createTask(AdminSumProcessor.create({ numbers: [3] }), { dependsOn: [a.id, b.id] });
      const detailC = (await call('GET', `/tasks/${c.id}`, { role: 'viewer' })).body as { dependsOn: string[]; dependents: string[] };
      expect(detailC.dependsOn).toEqual([a.id, b.id].sort());
      expect(detailC.dependents).toEqual([]);
      const detailA = (await call('GET', `/tasks/${a.id}`, { role: 'viewer' })).body as { dependsOn: string[]; dependents: string[] };
      expect(detailA).toMatchObject({ dependsOn: [], dependents: [c.id] });
    } finally {
      await upkeep.close();
      await env.close();
    }
  });
});

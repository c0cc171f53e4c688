import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { MaintenanceTask, TaskEvent, Upkeep } from '../../src';
import { databaseProblem, openTestDataSource, TEST_DB } from '../helpers/db';
import { SumProcessor } from '../helpers/processors';

const problem = await databaseProblem();

describe.skipIf(problem)(`entities and migrations agree on ${TEST_DB}`, () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ dataSource, close } = await openTestDataSource());
  });
  afterAll(async () => close?.());

  it("a host's synchronize / migration:generate would change nothing in upkeep's tables", async () => {
    const log = await dataSource.driver.createSchemaBuilder().log();
    expect(log.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('rows written by upkeep read back through TypeORM repositories with the right types', async () => {
    const upkeep = new Upkeep({ dataSource, processors: [SumProcessor] });
    const startAt = new Date('2026-01-02T03:04:05.678Z');
    const created = await upkeep.createTask(SumProcessor.create({ numbers: [1, 2] }), { startAt, priority: 3, uniqueKey: 'repo-read' });
    await upkeep.close();
    const viaRepo = await dataSource.getRepository(MaintenanceTask).findOneByOrFail({ id: created.id });
    expect(viaRepo.startAt).toBeInstanceOf(Date);
    expect(viaRepo.startAt.getTime()).toBe(startAt.getTime());
    expect(viaRepo.priority).toBe(3);
    expect(viaRepo.uniqueKey).toBe('repo-read');
    expect(viaRepo.resourceCleanupCompleted).toBe(false);
    expect(viaRepo.status).toBe('PENDING');
    const events = await dataSource.getRepository(TaskEvent).findBy({ taskId: created.id });
    expect(events.map((e) => e.eventType)).toEqual(['created']);
    expect(events[0]!.details).toMatchObject({ processorType: 'test-sum', priority: 3 });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { Upkeep } from '../../src';
import { createTestDatabase, databaseProblem, type TestDatabase } from '../helpers/db';
import { SumProcessor } from '../helpers/processors';

const problem = await databaseProblem('postgres');

describe.skipIf(problem)('PostgreSQL LISTEN/NOTIFY wakes idle runners in other processes', () => {
  let database: TestDatabase;
  let workerSide: DataSource;
  let appSide: DataSource;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    workerSide = new DataSource({ ...database.options, migrationsRun: true });
    await workerSide.initialize();
    appSide = new DataSource({ ...database.options });
    await appSide.initialize();
  });
  afterAll(async () => {
    await appSide?.destroy();
    await workerSide?.destroy();
    await database?.drop();
  });

  it('a task enqueued through another connection pool starts within milliseconds, not at the next poll', async () => {
    const worker = new Upkeep({ dataSource: workerSide, processors: [SumProcessor] });
    const app = new Upkeep({ dataSource: appSide, processors: [SumProcessor] }); // no runner: only NOTIFY can wake the worker
    const runner = worker.createRunner({ pollIntervalMs: 60_000 });
    await runner.start();
    await new Promise((r) => setTimeout(r, 200)); // idle: its one poll is done
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = worker.events.next('task:started');
      const t = performance.now();
      await app.createTask(SumProcessor.create({ numbers: [i] }));
      await started;
      latencies.push(performance.now() - t);
    }
    // A bulk enqueue wakes it once as well.
    const bulkStarted = worker.events.next('task:started');
    const t = performance.now();
    await app.createTasks(Array.from({ length: 50 }, (_, i) => ({ processor: SumProcessor.create({ numbers: [i] }) })));
    await bulkStarted;
    latencies.push(performance.now() - t);
    await runner.stop();
    await worker.close();
    await app.close();
    expect(Math.max(...latencies)).toBeLessThan(1000); // the poll interval is 60 s
  });
});

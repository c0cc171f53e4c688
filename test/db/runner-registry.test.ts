import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { Upkeep } from '../../src';
import { databaseProblem, dbDate, openTestDataSource, TEST_DB, waitFor } from '../helpers/db';
import { SumProcessor } from '../helpers/processors';
import { WaitProcessor } from '../helpers/long-processors';

const problem = await databaseProblem();
const p = (n: number) => (TEST_DB === 'postgres' ? `$${n}` : '?');
const q = (name: string) => (TEST_DB === 'mariadb' ? `\`${name}\`` : `"${name}"`);

describe.skipIf(problem)(`runner registry (upkeep_runners) on ${TEST_DB}`, () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let upkeep: Upkeep;

  beforeAll(async () => {
    ({ dataSource, close } = await openTestDataSource());
    upkeep = new Upkeep({ dataSource, processors: [SumProcessor, WaitProcessor] });
  });
  afterAll(async () => {
    await upkeep?.close();
    await close?.();
  });

  it('a runner registers on start, reports in-flight work with its heartbeats and removes itself on stop', async () => {
    expect(await upkeep.listRunners()).toEqual([]);
    const runner = upkeep.createRunner({ pollIntervalMs: 20, leaseMs: 600, heartbeatIntervalMs: 50, concurrency: 3, processorTypes: ['test-wait'] });
    await runner.start();
    const [info] = await upkeep.listRunners();
    expect(info).toMatchObject({ id: runner.id, pid: process.pid, concurrency: 3, processorTypes: ['test-wait'], leaseMs: 600, inFlight: 0 });
    expect(info!.startedAt).toBeInstanceOf(Date);
    const task = await upkeep.createTask(WaitProcessor.create({ ms: 60_000 }));
    await waitFor(async () => (await upkeep.listRunners())[0]?.inFlight === 1);
    const before = (await upkeep.listRunners())[0]!.lastHeartbeatAt.getTime();
    await waitFor(async () => (await upkeep.listRunners())[0]!.lastHeartbeatAt.getTime() > before);
    await upkeep.cancelTask(task.id);
    await runner.stop();
    expect(await upkeep.listRunners()).toEqual([]);
  });

  it('a runner that stopped beating is not listed, and the next rescue pass deletes its row', async () => {
    await dataSource.query(
      `INSERT INTO ${q('upkeep_runners')} (${['id', 'host', 'pid', 'concurrency', 'processor_types', 'lease_ms', 'in_flight', 'started_at', 'last_heartbeat_at'].map(q).join(', ')})
       VALUES (${[1, 2, 3, 4, 5, 6, 7, 8, 9].map(p).join(', ')})`,
      ['dead-runner', 'gone-host', 1, 1, '["x"]', 1000, 2, dbDate(new Date(Date.now() - 60_000)), dbDate(new Date(Date.now() - 10_000))],
    );
    expect(await upkeep.listRunners()).toEqual([]);
    const runner = upkeep.createRunner({ pollIntervalMs: 20, leaseMs: 600, rescueIntervalMs: 50 });
    await runner.start();
    await waitFor(async () => {
      const rows: Array<{ id: string }> = await dataSource.query(`SELECT ${q('id')} FROM ${q('upkeep_runners')}`);
      return rows.length === 1 && rows[0]!.id === runner.id;
    });
    expect((await upkeep.listRunners()).map((r) => r.id)).toEqual([runner.id]);
    await runner.stop();
  });

  it('a runner whose row was removed while it was frozen writes it again at its next heartbeat', async () => {
    const runner = upkeep.createRunner({ pollIntervalMs: 20, leaseMs: 600, heartbeatIntervalMs: 50 });
    await runner.start();
    await dataSource.query(`DELETE FROM ${q('upkeep_runners')}`);
    await waitFor(async () => (await upkeep.listRunners()).some((r) => r.id === runner.id));
    await runner.stop();
    expect(await upkeep.listRunners()).toEqual([]);
  });
});

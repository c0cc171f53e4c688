import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { IsString } from 'class-validator';
import { MaintenanceTaskProcessor, Processor, Upkeep } from '../../src';
import { createTestDatabase, databaseProblem, waitFor, type TestDatabase, type TestDb } from '../helpers/db';

@Processor('record-execution')
class RecordExecutionProcessor extends MaintenanceTaskProcessor<{ pid: number }> {
  @IsString()
  label!: string;
  process(): never {
    throw new Error('runs only in the runner processes');
  }
}

const backends: TestDb[] = ['postgres', 'mariadb'];
const problems = Object.fromEntries(await Promise.all(backends.map(async (db) => [db, await databaseProblem(db)] as const)));

function startRunner(database: TestDatabase, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/e2e/fixtures/runner-process.ts'], {
    env: { ...process.env, UPKEEP_DS: JSON.stringify(database.options), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`runner process exited with ${code} before it was ready: ${err}`)));
  });
}

async function setUp(db: TestDb) {
  const database = await createTestDatabase(db);
  const dataSource = new DataSource({ ...database.options, migrationsRun: true });
  await dataSource.initialize();
  await dataSource.query(
    db === 'postgres'
      ? 'CREATE TABLE executions (id SERIAL PRIMARY KEY, task_id varchar(36) NOT NULL, pid integer NOT NULL, attempt integer NOT NULL)'
      : 'CREATE TABLE executions (id int AUTO_INCREMENT PRIMARY KEY, task_id varchar(36) NOT NULL, pid int NOT NULL, attempt int NOT NULL)',
  );
  const upkeep = new Upkeep({ dataSource, processors: [RecordExecutionProcessor] });
  return { database, dataSource, upkeep };
}

describe.each(backends)('several runner processes on %s', (db) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it.skipIf(problems[db])('4 processes run 2,000 tasks: every task COMPLETED, none executed twice', async () => {
    const { database, dataSource, upkeep } = await setUp(db);
    cleanups.push(() => database.drop(), () => dataSource.destroy());
    const N = 2000;
    await upkeep.createTasks(Array.from({ length: N }, (_, i) => ({ processor: RecordExecutionProcessor.create({ label: `t${i}` }) })));
    const children = await Promise.all(Array.from({ length: 4 }, () => startRunner(database, { RUNNER_CONCURRENCY: '10' })));
    cleanups.push(async () => children.forEach((c) => c.kill('SIGKILL')));
    await waitFor(async () => (await upkeep.countByStatus()).COMPLETED === N, 120_000, 200);
    const [{ n, distinct, pids }] = await dataSource.query('SELECT COUNT(*) AS n, COUNT(DISTINCT task_id) AS `distinct`, COUNT(DISTINCT pid) AS pids FROM executions'.replace(/`/g, db === 'postgres' ? '"' : '`'));
    expect(Number(n)).toBe(N);
    expect(Number(distinct)).toBe(N);
    expect(Number(pids)).toBeGreaterThanOrEqual(2); // the work was shared
    const counts = await upkeep.countByStatus();
    expect(counts).toMatchObject({ COMPLETED: N, WORKING: 0, PENDING: 0, ERROR: 0 });
    // Graceful stop on SIGTERM: each process exits 0.
    const exits = children.map((c) => once(c, 'exit'));
    children.forEach((c) => c.kill('SIGTERM'));
    for (const [code] of await Promise.all(exits)) expect(code).toBe(0);
  });

  it.skipIf(problems[db])('a runner SIGKILLed mid-work: its tasks complete after the lease expires, attempts counted, nothing left WORKING', async () => {
    const { database, dataSource, upkeep } = await setUp(db);
    cleanups.push(() => database.drop(), () => dataSource.destroy());
    const N = 150; // 300 ms each: the victim holds tasks for seconds, even on a loaded machine
    const env = { RUNNER_CONCURRENCY: '5', RUNNER_LEASE_MS: '1500', WORK_MS: '300' };
    const victim = await startRunner(database, env);
    const survivor = await startRunner(database, env);
    cleanups.push(async () => [victim, survivor].forEach((c) => c.kill('SIGKILL')));
    // Enqueued once both are up: a slow start of one must not let the other drain the queue first.
    await upkeep.createTasks(Array.from({ length: N }, (_, i) => ({ processor: RecordExecutionProcessor.create({ label: `t${i}` }) })));
    // Kill the victim while it holds tasks, made sure of rather than hoped for: freeze both
    // runners, wait until none of their statements is still executing (a statement waiting for a
    // lock a frozen runner holds cannot finish, and changes nothing the victim holds; what is committed then
    // is what they left), read what the victim holds; if nothing, let them run a moment and
    // try again. Killed while frozen, the victim never writes again: its rows change only by
    // the survivor's rescue after the lease.
    const activeSql =
      db === 'postgres'
        ? "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND wait_event_type IS DISTINCT FROM 'Lock' AND pid <> pg_backend_pid()"
        : "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = DATABASE() AND command NOT IN ('Sleep', 'Daemon') AND id <> CONNECTION_ID() AND id NOT IN (SELECT trx_mysql_thread_id FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT')";
    let held: Array<{ id: string }> = [];
    await waitFor(
      async () => {
        victim.kill('SIGSTOP');
        survivor.kill('SIGSTOP');
        await waitFor(async () => Number((await dataSource.query(activeSql))[0].n) === 0, 10_000, 5);
        held = await dataSource.query(`SELECT id FROM maintenance_tasks WHERE status = 'WORKING' AND locked_by LIKE ${db === 'postgres' ? '$1' : '?'}`, [
          `%:${victim.pid}:%`,
        ]);
        if (held.length) return true;
        victim.kill('SIGCONT');
        survivor.kill('SIGCONT');
        await new Promise((r) => setTimeout(r, 20));
        return false;
      },
      60_000,
      0,
    );
    victim.kill('SIGKILL');
    await once(victim, 'exit');
    survivor.kill('SIGCONT');
    expect(held.length).toBeGreaterThan(0);
    await waitFor(async () => (await upkeep.countByStatus()).COMPLETED === N, 120_000, 100);
    const counts = await upkeep.countByStatus();
    expect(counts.WORKING).toBe(0);
    expect(counts.ERROR).toBe(0);
    for (const { id } of held) {
      const task = (await upkeep.getTask(id))!;
      expect(task.status).toBe('COMPLETED');
      expect(task.attempts).toBeGreaterThanOrEqual(2);
      expect(task.runnerInfo!.attempts!.some((a) => a.reason === 'lease_expired')).toBe(true);
    }
    survivor.kill('SIGTERM');
    await once(survivor, 'exit');
  });
});

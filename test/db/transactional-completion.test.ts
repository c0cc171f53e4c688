import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { IsBoolean, IsString } from 'class-validator';
import { MaintenanceTaskProcessor, Processor, Upkeep, type MaintenanceTask, type TaskContext } from '../../src';
import { databaseProblem, openTestDataSource, TEST_DB } from '../helpers/db';

const problem = await databaseProblem();
const p = (n: number) => (TEST_DB === 'postgres' ? `$${n}` : '?');

/** Writes one row of the host's own table inside ctx.transaction, then maybe throws. */
@Processor('tx-writer')
class TxWriterProcessor extends MaintenanceTaskProcessor<{ wrote: string }> {
  @IsString()
  key = 'k';

  @IsBoolean()
  throwAfter = false;

  async process(task: MaintenanceTask, ctx: TaskContext) {
    await ctx.transaction(async (manager) => {
      await manager.query(`INSERT INTO tx_items (id, task_id) VALUES (${p(1)}, ${p(2)})`, [this.key, task.id]);
    });
    if (this.throwAfter) throw new Error('crashed after its writes');
    return { wrote: this.key };
  }
}

describe.skipIf(problem)(`ctx.transaction: writes and COMPLETED commit together on ${TEST_DB}`, () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let upkeep: Upkeep;
  const items = async (key: string) => (await dataSource.query(`SELECT id FROM tx_items WHERE id = ${p(1)}`, [key])) as unknown[];

  beforeAll(async () => {
    ({ dataSource, close } = await openTestDataSource());
    await dataSource.query('CREATE TABLE tx_items (id varchar(64) PRIMARY KEY, task_id varchar(36) NOT NULL)');
    upkeep = new Upkeep({ dataSource, processors: [TxWriterProcessor] });
  });
  afterAll(async () => {
    await upkeep?.close();
    await close?.();
  });

  it('the processor’s writes and the COMPLETED write commit together', async () => {
    const task = await upkeep.createTask(TxWriterProcessor.create({ key: 'ok-1' }));
    await upkeep.runDue();
    const t = (await upkeep.getTask(task.id))!;
    expect(t.status).toBe('COMPLETED');
    expect(t.info).toEqual({ wrote: 'ok-1' });
    expect(await items('ok-1')).toHaveLength(1);
  });

  it('a throw after the writes leaves neither: the rows are rolled back and the task is not COMPLETED', async () => {
    const task = await upkeep.createTask(TxWriterProcessor.create({ key: 'crash-1', throwAfter: true }), { maxAttempts: 1 });
    await upkeep.runDue();
    const t = (await upkeep.getTask(task.id))!;
    expect(t.status).toBe('ERROR');
    expect(t.info!.error).toBe('crashed after its writes');
    expect(t.lastError!.startsWith('crashed after its writes\n')).toBe(true);
    expect(await items('crash-1')).toHaveLength(0);
  });

  it('a retried attempt writes once: the failed attempt left nothing behind', async () => {
    let calls = 0;
    const up = new Upkeep({ dataSource, processors: [TxWriterProcessor], settings: { retry: { initialDelayMs: 1, jitter: 0 } } });
    const task = await up.createTask(TxWriterProcessor.create({ key: 'retry-1', throwAfter: true }), { maxAttempts: 2 });
    up.events.on('task:failed', () => calls++);
    await up.runDue();
    await new Promise((r) => setTimeout(r, 20));
    await up.runDue();
    expect(calls).toBe(2);
    expect((await up.getTask(task.id))!.status).toBe('ERROR');
    expect(await items('retry-1')).toHaveLength(0);
    await up.close();
  });

  it('a host transaction open on the same DataSource and then rolled back does not take the writes with it (defect 6)', async () => {
    const task = await upkeep.createTask(TxWriterProcessor.create({ key: 'host-1' }));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const host = dataSource
      .transaction(async (manager) => {
        await manager.query('SELECT 1');
        await gate;
        throw new Error('host rollback');
      })
      .catch(() => undefined);
    const run = upkeep.runDue();
    await new Promise((r) => setTimeout(r, 200));
    release();
    await host;
    await run;
    expect((await upkeep.getTask(task.id))!.status).toBe('COMPLETED');
    expect(await items('host-1')).toHaveLength(1);
  });

  it('a completion that can no longer be written (the lease was taken) rolls the writes back', async () => {
    const up = new Upkeep({ dataSource, processors: [TxWriterProcessor] });
    const task = await up.createTask(TxWriterProcessor.create({ key: 'lost-1' }));
    // Between the processor's writes and its completion, someone else takes the task over.
    const store = up.internals.runnerStore;
    const original = store.completeIn.bind(store);
    store.completeIn = async (tx, runnerId, item, now) => original(tx, `${runnerId}-not-any-more`, item, now);
    await up.runDue();
    expect((await up.getTask(task.id))!.status).not.toBe('COMPLETED');
    expect(await items('lost-1')).toHaveLength(0);
    await up.close();
  });
});

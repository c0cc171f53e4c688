// Issue 8: on PostgreSQL, the runner's hot statements find their rows through indexes, never by
// reading the whole task table. Before the fix, the claim's UPDATE joined its locked batch
// against a sequential scan of maintenance_tasks (a hash join: every claim read every row,
// so a 200,000-task backlog drained slower as it went), the heartbeat's lease renewal did the
// same, and a batch completion compared every WORKING row with every row of the batch.
// Checked with EXPLAIN ANALYZE of the statements as the store sends them, on a table large
// enough that the planner prefers the scan when the statement allows it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { Upkeep } from '../../src';
import { databaseProblem, openTestDataSource, TEST_DB } from '../helpers/db';
import { SumProcessor } from '../helpers/processors';

const problem = TEST_DB === 'postgres' ? await databaseProblem() : 'PostgreSQL-only statements';

describe.skipIf(problem)('PostgreSQL: claim, completion and lease renewal use indexes, not table scans', () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let up: Upkeep;

  beforeAll(async () => {
    ({ dataSource, close } = await openTestDataSource());
    up = new Upkeep({ dataSource, processors: [SumProcessor] });
    for (let i = 0; i < 20_000; i += 2000) {
      await up.createTasks(Array.from({ length: 2000 }, (_, k) => ({ processor: SumProcessor.create({ numbers: [i + k] }) })));
    }
    await dataSource.query('ANALYZE maintenance_tasks');
  }, 120_000);
  afterAll(async () => {
    await up?.close();
    await close?.();
  });

  /**
   * Runs `fn` while every statement the store sends is also explained (EXPLAIN ANALYZE, in a
   * transaction rolled back, so the real statement runs after it on the same rows); returns
   * the plans of the statements whose text matches `pattern`.
   */
  async function plansOf(pattern: RegExp, fn: () => Promise<void>): Promise<string[]> {
    const store = up.internals.runnerStore;
    const plans: string[] = [];
    const query = dataSource.driver.createQueryRunner('master');
    const original = store.db.query.bind(store.db);
    store.db.query = (async (sql: string, params?: unknown[]) => {
      if (pattern.test(sql)) {
        let n = 0;
        await query.startTransaction();
        const rows: Array<Record<string, string>> = await query.query(`EXPLAIN (ANALYZE, FORMAT TEXT) ${sql.replace(/\?/g, () => `$${++n}`)}`, params);
        await query.rollbackTransaction();
        plans.push(rows.map((r) => r['QUERY PLAN']).join('\n'));
      }
      return original(sql, params as unknown[]);
    }) as typeof store.db.query;
    try {
      await fn();
    } finally {
      store.db.query = original;
      await query.release();
    }
    return plans;
  }

  /** A sequential scan of the task table that ran (a plan's branch marked "never executed" did not). */
  const SCANNED = /Seq Scan on maintenance_tasks [^\n]*\(actual/;

  const completion = (t: { id: string; version: number }) => ({ id: t.id, version: t.version, info: null, actualMemoryMb: null, cleanupDone: true, progressDone: null, cursor: null });

  it('a claim and a heartbeat of 200 tasks read no row outside their batch (no scan of the task table)', async () => {
    const store = up.internals.runnerStore;
    let claimed: Awaited<ReturnType<typeof store.claim>> = [];
    const claimPlans = await plansOf(/FOR NO KEY UPDATE SKIP LOCKED/, async () => {
      claimed = await store.claim({ runnerId: 'plans', types: up.registry.names(), limit: 200, leaseMs: 60_000, now: new Date() });
    });
    expect(claimed).toHaveLength(200);
    const renewPlans = await plansOf(/SET "lease_expires_at"/, async () => {
      expect(await store.heartbeat('plans', claimed.map((t) => t.id), 60_000, new Date())).toHaveLength(200);
    });
    expect(await store.completeMany('plans', claimed.map(completion), new Date())).toHaveLength(200);
    expect(claimPlans).toHaveLength(1);
    expect(renewPlans).toHaveLength(1);
    expect(claimPlans[0]).not.toMatch(SCANNED);
    expect(renewPlans[0]).not.toMatch(SCANNED);
  });

  it("a batch completion does not compare the batch with every WORKING row (no join filter over the runner's rows)", async () => {
    const store = up.internals.runnerStore;
    // 1,000 rows WORKING under this runner, 200 of them completed in one statement.
    const claimed = await store.claim({ runnerId: 'plans-2', types: up.registry.names(), limit: 1000, leaseMs: 60_000, now: new Date() });
    const batch = claimed.slice(0, 200);
    const plans = await plansOf(/^\s*WITH v AS/, async () => {
      expect(await store.completeMany('plans-2', batch.map(completion), new Date())).toHaveLength(200);
    });
    expect(plans).toHaveLength(1);
    const removed = [...plans[0]!.matchAll(/Rows Removed by Join Filter: (\d+)/g)].map((m) => Number(m[1]));
    // Before: about 1,000 x 200 comparisons.
    expect(Math.max(0, ...removed)).toBeLessThan(1000);
    expect(plans[0]).not.toMatch(SCANNED);
  });

  // A table analyzed while every row was PENDING (autovacuum off, or before autoanalyze ran):
  // the planner then thinks no row is WORKING, and an index leading with status or locked_by
  // looks cheaper than the primary key. Its WORKING / locked_by entries of every task that
  // ran since are dead but still in the index, so a statement that took that path read all of
  // them: a 200,000-task backlog drained at 6,000/s first and 1,000/s at the end.
  it('with statistics taken while every row was PENDING, statements of held tasks find them by primary key only', async () => {
    const store = up.internals.runnerStore;
    await dataSource.query('ANALYZE maintenance_tasks');
    // 2,000 tasks through WORKING to COMPLETED: their WORKING entries stay behind, dead.
    for (let i = 0; i < 10; i += 1) {
      const ran = await store.claim({ runnerId: 'plans-3', types: up.registry.names(), limit: 200, leaseMs: 60_000, now: new Date() });
      await store.completeMany('plans-3', ran.map(completion), new Date());
    }
    const held = await store.claim({ runnerId: 'plans-3', types: up.registry.names(), limit: 300, leaseMs: 60_000, now: new Date() });
    expect(held).toHaveLength(300);
    const plans = await plansOf(/^\s*(WITH (v|s) AS|SELECT "id", "control"|UPDATE "maintenance_tasks")/, async () => {
      expect(await store.heartbeat('plans-3', held.slice(0, 200).map((t) => t.id), 60_000, new Date())).toHaveLength(200);
      expect(await store.completeMany('plans-3', held.slice(0, 200).map(completion), new Date())).toHaveLength(200);
      expect(await store.renewLease('plans-3', held[200]!.id, 60_000, new Date())).toBe(true);
      expect(await store.completeIn(store.db, 'plans-3', completion(held[201]!), new Date())).toBe(true);
      expect(await store.transition(held[202]!.id, 'ERROR', { failureReason: 'processor_error', lastError: 'x', releaseLease: true, finished: true }, new Date(), { lockedBy: 'plans-3' })).toBe(true);
    });
    expect(plans.length).toBeGreaterThanOrEqual(5);
    // Each plan with the indexes it read the task table through: the primary key, nothing else.
    const used = plans.map((plan) => [...plan.matchAll(/(Index (?:Only )?Scan|Bitmap Index Scan) (?:using|on) (\S+)/g)].map((m) => m[2]).filter((name) => name !== 'idx_upkeep_tasks_claim'));
    expect(used).toEqual(plans.map(() => expect.arrayContaining(['maintenance_tasks_pkey'])));
    expect(used.map((names) => names.filter((name) => name !== 'maintenance_tasks_pkey'))).toEqual(plans.map(() => []));
    for (const plan of plans) expect(plan).not.toMatch(SCANNED);
  });
});

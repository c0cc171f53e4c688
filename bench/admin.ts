/**
 * Admin API list latency with 100,000 tasks on PostgreSQL (issue 9): the first page, a
 * page 50,000 rows deep reached by its cursor, and a filtered page, each requested
 * repeatedly through `createAdminHandler` (no HTTP server: the handler's own time).
 *
 *   npm run bench:admin [-- --tasks 100000 --samples 50]
 *
 * A throwaway database on the shared server (127.0.0.1:5432), dropped at the end.
 * Target (issue 9): p50 under 20 ms for each page.
 */
import { createAdminHandler } from '../src/admin';
import { createPgDatabase, dropPgDatabase, PgProbe } from './lib/pg';
import { fmt, intFlag, loadAverage, log, machine, percentile, table } from './lib/util';
import { UpkeepSubject } from './peers/upkeep';

const TASKS = intFlag('tasks', 100_000);
const SAMPLES = intFlag('samples', 50);
const PAGE = 50;

async function main(): Promise<void> {
  const database = `bench_admin_${Date.now().toString(36)}`;
  const m = machine();
  log(`admin list latency: ${fmt(TASKS)} tasks on PostgreSQL, ${SAMPLES} requests per page, commit ${m.commit}, load ${loadAverage().join(', ')}`);
  await createPgDatabase(database);
  const probe = new PgProbe(database);
  await probe.connect();
  const subject = new UpkeepSubject({ name: 'admin', dialect: 'postgres', pgDatabase: database, probe });
  try {
    await subject.setup(0);
    log(`enqueueing ${fmt(TASKS)} tasks in batches of 1,000...`);
    for (let i = 0; i < TASKS; i += 10_000) {
      await subject.addBatches(Math.min(10_000, TASKS - i), 1000);
      log(`  ${fmt(Math.min(TASKS, i + 10_000))}/${fmt(TASKS)}`);
    }
    // A mix of statuses for the filtered page: every tenth task finished (set directly, as a
    // fixture: the runner is not what this measures).
    await probe.query(`UPDATE r0_admin.maintenance_tasks SET status = 'COMPLETED', finished_at = now() WHERE id IN (SELECT id FROM r0_admin.maintenance_tasks ORDER BY id LIMIT ${Math.floor(TASKS / 10)})`);
    await probe.query('ANALYZE r0_admin.maintenance_tasks');

    const handler = createAdminHandler(subject.upkeepInstance(), { authorize: () => ({ id: 'bench', admin: true }) });
    const get = async (query: Record<string, string>) => {
      const response = await handler({ method: 'GET', path: '/tasks', query });
      if (response.status !== 200) throw new Error(`GET /tasks ${JSON.stringify(query)}: ${response.status} ${JSON.stringify(response.body)}`);
      return response.body as { items: unknown[]; nextCursor: string | null };
    };

    log(`walking to a cursor ${fmt(Math.min(50_000, TASKS - PAGE))} rows deep (pages of 500)...`);
    let cursor: string | null = null;
    let depth = 0;
    while (depth + 500 <= Math.min(50_000, TASKS - PAGE)) {
      const page: { items: unknown[]; nextCursor: string | null } = await get({ limit: '500', count: 'false', ...(cursor ? { cursor } : {}) });
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
      depth += page.items.length;
    }
    const pages: Array<[string, Record<string, string>]> = [
      ['first page (50, with the capped total)', { limit: String(PAGE) }],
      [`${fmt(depth)} rows deep, by cursor`, { limit: String(PAGE), ...(cursor ? { cursor } : {}) }],
      ['filtered: status=COMPLETED, type=bench-noop', { limit: String(PAGE), status: 'COMPLETED', type: 'bench-noop' }],
    ];
    const rows: string[][] = [['page', 'rows', 'p50 ms', 'p95 ms', 'max ms', 'target p50 < 20 ms']];
    for (const [name, query] of pages) {
      const times: number[] = [];
      let items = 0;
      for (let i = 0; i < SAMPLES + 3; i++) {
        const t = performance.now();
        const body = await get(query);
        if (i >= 3) times.push(performance.now() - t); // the first three warm the plan cache
        items = body.items.length;
      }
      times.sort((a, b) => a - b);
      const p50 = percentile(times, 50);
      rows.push([name, String(items), p50.toFixed(1), percentile(times, 95).toFixed(1), times.at(-1)!.toFixed(1), p50 < 20 ? 'met' : 'MISSED']);
      log(`${name}: p50 ${p50.toFixed(1)} ms`);
    }
    console.log(`\n${table(rows)}\n`);
    log(`load average at end: ${loadAverage().join(', ')}`);
  } finally {
    await subject.teardown().catch(() => {});
    await probe.end();
    await dropPgDatabase(database);
  }
}

await main();

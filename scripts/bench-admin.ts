/**
 * `npm run bench:admin-list`: latency of the admin API's task list with 100,000 tasks in
 * PostgreSQL: the first page, a deep cursor page (after walking 20,000 rows), a filtered page
 * (status + type), each measured through `createAdminHandler` (routing, auth, SQL, JSON).
 * Prints p50/p95 per case and the query plan of each; target: p50 under 20 ms.
 *
 * Env: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test: a throwaway database
 * `upkeep_bench_admin` is created there and dropped at the end), TASKS (default 100000),
 * RUNS (default 50).
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { IsInt } from 'class-validator';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { createAdminHandler, MaintenanceTaskProcessor, Processor, Upkeep, UPKEEP_ENTITIES, UPKEEP_MIGRATIONS } from '../src';

@Processor('bench-a')
class BenchA extends MaintenanceTaskProcessor {
  @IsInt() n!: number;
  process() {
    return null;
  }
}
@Processor('bench-b')
class BenchB extends MaintenanceTaskProcessor {
  @IsInt() n!: number;
  process() {
    return null;
  }
}

const TASKS = Number(process.env.TASKS ?? 100_000);
const RUNS = Number(process.env.RUNS ?? 50);
const adminUrl = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
const dbName = 'upkeep_bench_admin';

async function admin(sql: string) {
  const client = new pg.Client({ connectionString: adminUrl.toString() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function main() {
  console.log(`bench:admin-list: ${TASKS.toLocaleString()} tasks in PostgreSQL (${adminUrl.host}), ${RUNS} runs per case`);
  await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${dbName}`);
  const url = new URL(adminUrl.toString());
  url.pathname = `/${dbName}`;
  const dataSource = new DataSource({ type: 'postgres', url: url.toString(), entities: [...UPKEEP_ENTITIES], migrations: [...UPKEEP_MIGRATIONS], migrationsRun: true, logging: false });
  await dataSource.initialize();
  try {
    const statuses = ['PENDING', 'COMPLETED', 'COMPLETED', 'COMPLETED', 'ERROR', 'INACTIVE', 'CANCELLED', 'COMPLETED'];
    const started = Date.now();
    // Rows inserted directly in big batches (the enqueue path is the other bench's subject).
    for (let i = 0; i < TASKS; i += 10_000) {
      const rows = Array.from({ length: Math.min(10_000, TASKS - i) }, (_, j) => {
        const k = i + j;
        const at = new Date(Date.UTC(2026, 0, 1) + k * 1000).toISOString();
        return { id: randomUUID(), status: statuses[k % statuses.length], processor_type: k % 3 ? 'bench-a' : 'bench-b', processor_json: `{"n":${k}}`, created_at: at, updated_at: at, start_at: at };
      });
      await dataSource.query(
        `INSERT INTO maintenance_tasks (id, status, processor_type, processor_json, created_at, updated_at, start_at)
         SELECT id, status, processor_type, processor_json, created_at, updated_at, start_at FROM json_populate_recordset(NULL::maintenance_tasks, $1::json)`,
        [JSON.stringify(rows)],
      );
      process.stdout.write(`\r  inserted ${(i + rows.length).toLocaleString()} / ${TASKS.toLocaleString()}`);
    }
    await dataSource.query('ANALYZE maintenance_tasks');
    console.log(`\n  seeded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const upkeep = new Upkeep({ dataSource, processors: [BenchA, BenchB] });
    const handler = createAdminHandler(upkeep, { authorize: () => ({ id: 'bench', admin: true }) });
    const list = async (query: Record<string, string>) => {
      const res = await handler({ method: 'GET', path: '/tasks', query, headers: {} });
      if (res.status !== 200) throw new Error(`GET /tasks ${JSON.stringify(query)}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body as { items: unknown[]; nextCursor: string | null; total: number };
    };
    // The deep cursor: walk 20,000 rows (200 pages of 100) and keep the cursor.
    let cursor: string | null = null;
    for (let i = 0; i < 200; i++) cursor = (await list(cursor ? { limit: '100', count: 'false', cursor } : { limit: '100', count: 'false' })).nextCursor;
    const cases: Array<[string, Record<string, string>]> = [
      ['first page (limit 50, total capped at 1,000)', { limit: '50' }],
      ['deep cursor page (after 20,000 rows)', { limit: '50', cursor: cursor! }],
      ['filtered page (status=COMPLETED, type=bench-b)', { limit: '50', status: 'COMPLETED', type: 'bench-b' }],
      ['filtered page, no total (count=false)', { limit: '50', status: 'COMPLETED', type: 'bench-b', count: 'false' }],
    ];
    const results: Array<{ name: string; p50: number; p95: number; rows: number }> = [];
    for (const [name, query] of cases) {
      for (let i = 0; i < 5; i++) await list(query); // warm up
      const times: number[] = [];
      let rows = 0;
      for (let i = 0; i < RUNS; i++) {
        const t0 = process.hrtime.bigint();
        rows = (await list(query)).items.length;
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      results.push({ name, p50: pct(times, 50), p95: pct(times, 95), rows });
    }
    console.log('\n  case                                              p50 ms   p95 ms  rows  target p50 < 20 ms');
    for (const r of results) console.log(`  ${r.name.padEnd(48)} ${r.p50.toFixed(2).padStart(7)}  ${r.p95.toFixed(2).padStart(7)}  ${String(r.rows).padStart(4)}  ${r.p50 < 20 ? 'ok' : 'MISSED'}`);
    const plan = await dataSource.query(
      `EXPLAIN SELECT * FROM maintenance_tasks WHERE status IN ('COMPLETED') AND processor_type IN ('bench-b') ORDER BY created_at DESC, id DESC LIMIT 51`,
    );
    console.log(`\n  plan of the filtered page: ${plan.map((r: Record<string, string>) => r['QUERY PLAN']).join(' | ')}`);
    await upkeep.close();
    if (results.some((r) => r.p50 >= 20)) process.exitCode = 1;
  } finally {
    await dataSource.destroy();
    await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  }
}

await main();

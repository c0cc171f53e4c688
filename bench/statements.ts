/**
 * Statements per task by kind: one default upkeep runner (concurrency 10) processes a
 * bulk-enqueued backlog on PostgreSQL while every query the pg driver sends is counted by
 * what it does (claim, completion, heartbeat, task_events insert, metrics, ...).
 *
 *   npx tsx bench/statements.ts [--tasks 20000] [--single: enqueued one call at a time by 10 producers] [--max-queue-size N]
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type pgTypes from 'pg';
import { UpkeepSubject } from './peers/upkeep';
import { createPgDatabase, dropPgDatabase, PgProbe } from './lib/pg';
import { flag, fmt, has, intFlag, loadAverage, log, machine, sleep, table, waitFor } from './lib/util';

const TASKS = intFlag('tasks', 20_000);
/** The pg the library (TypeORM) loads: the root package's, not bench/'s own copy. */
const pg = createRequire(join(process.cwd(), 'package.json'))('pg') as typeof pgTypes;

/** What a statement does, from its text. */
export function kindOf(sql: string): string {
  const s = sql.replace(/\s+/g, ' ').trim();
  const u = s.toUpperCase();
  if (u === 'BEGIN' || u.startsWith('START TRANSACTION')) return 'BEGIN';
  if (u === 'COMMIT') return 'COMMIT';
  if (u === 'ROLLBACK') return 'ROLLBACK';
  if (u.startsWith('LISTEN') || u.startsWith('UNLISTEN')) return 'LISTEN';
  if (/SELECT PG_NOTIFY|^NOTIFY/.test(u)) return 'NOTIFY';
  const table = s.match(/(?:INTO|UPDATE|FROM)\s+"?(?:\w+"?\.)?"?(\w+)"?/i)?.[1] ?? '?';
  const verb = u.startsWith('WITH') ? `WITH…${/UPDATE/.test(u) ? 'UPDATE' : ''}${/INSERT/.test(u) ? '+INSERT' : ''}` : u.split(' ')[0];
  let what = '';
  if (table === 'maintenance_tasks' && verb.includes('UPDATE')) {
    if (/SKIP LOCKED/.test(u)) what = ' (claim)';
    else if (/LEASE_EXPIRES_AT/.test(u) && !/STATUS\s*=\s*'COMPLETED'|STATUS" = 'COMPLETED'|COMPLETED/.test(u)) what = ' (lease/heartbeat)';
    else if (/COMPLETED/.test(u)) what = ' (completion)';
    else if (/PROGRESS/.test(u)) what = ' (progress)';
    else if (/ASSIGNED_DEVICE|PEAK_MEMORY/.test(u)) what = ' (resources)';
  }
  return `${verb} ${table}${what}`;
}

async function main(): Promise<void> {
  const database = `bench_stmts_${Date.now().toString(36)}`;
  log(`statements by kind: upkeep (defaults, concurrency 10) processing ${fmt(TASKS)} no-op tasks on PostgreSQL; commit ${machine().commit}; load ${loadAverage().join(', ')}`);
  await createPgDatabase(database);
  const probe = new PgProbe(database);
  await probe.connect();
  // --max-queue-size N: the one setting changed from the defaults (the runner holds at most concurrency + N).
  const maxQueueSize = flag('max-queue-size');
  const subject = new UpkeepSubject({ name: 'stmts', dialect: 'postgres', pgDatabase: database, probe, ...(maxQueueSize ? { settings: { maxQueueSize: Number(maxQueueSize) } } : {}) });
  const counts = new Map<string, number>();
  const samples = new Map<string, string>();
  const rowsOf = new Map<string, number>();
  let counting = false;
  const original = pg.Client.prototype.query;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  (pg.Client.prototype as any).query = function (this: pgTypes.Client, config: unknown, ...rest: unknown[]) {
    if (counting && this !== probe.client) {
      const text = typeof config === 'string' ? config : (config as { text?: string })?.text ?? '';
      const kind = kindOf(text);
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      if (!samples.has(kind)) samples.set(kind, text.replace(/\s+/g, ' ').slice(0, 220));
      // Rows each statement touched: the batch sizes.
      const last = rest[rest.length - 1];
      if (typeof last === 'function') {
        rest[rest.length - 1] = (error: unknown, result: { rowCount?: number | null; rows?: unknown[] }) => {
          const n = result?.rowCount ?? result?.rows?.length ?? 0;
          rowsOf.set(kind, (rowsOf.get(kind) ?? 0) + n);
          return (last as (e: unknown, r: unknown) => unknown)(error, result);
        };
      }
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const out = (original as any).call(this, config, ...rest);
    if (counting && this !== probe.client && out && typeof out.then === 'function') {
      const text = typeof config === 'string' ? config : (config as { text?: string })?.text ?? '';
      const kind = kindOf(text);
      (out as Promise<{ rowCount?: number | null; rows?: unknown[] }>).then(
        (result) => rowsOf.set(kind, (rowsOf.get(kind) ?? 0) + (result?.rowCount ?? result?.rows?.length ?? 0)),
        () => undefined,
      );
    }
    return out;
  };
  try {
    await subject.setup(0);
    if (has('single')) {
      // As the suite's single-enqueue phase: 10 producers, one createTask call per task.
      let left = TASKS;
      await Promise.all(Array.from({ length: 10 }, async () => {
        while (left-- > 0) await subject.addOne();
      }));
    } else await subject.addBatches(TASKS, 1000);
    await probe.query('ANALYZE');
    await sleep(1100);
    const c0 = await probe.commits();
    const own0 = probe.ownCommits;
    let runs = 0;
    counting = true;
    const t0 = performance.now();
    const worker = await subject.startWorker(() => {
      runs += 1;
    });
    await waitFor('tasks run', () => runs >= TASKS, 600_000, 20);
    await waitFor('completions stored', async () => (await subject.countDone()) >= TASKS, 600_000, 50);
    const ms = performance.now() - t0;
    await worker.stop();
    counting = false;
    await sleep(1100);
    const commits = (await probe.commits()) - c0 - (probe.ownCommits - own0);
    console.log(`\n${fmt(TASKS)} tasks stored in ${(ms / 1000).toFixed(1)} s: ${fmt((TASKS / ms) * 1000)} tasks/s, ${(commits / TASKS).toFixed(4)} commits per task (${fmt(commits)})\n`);
    const sorted = [...counts.entries()].sort((a, b) => b[1] - a[1]);
    const total = sorted.reduce((s, [, n]) => s + n, 0);
    console.log(
      table([
        ['statement', 'count', 'per task', 'rows per statement'],
        ...sorted.map(([k, n]) => [k, fmt(n), (n / TASKS).toFixed(4), rowsOf.has(k) ? ((rowsOf.get(k) ?? 0) / n).toFixed(1) : '']),
        ['all', fmt(total), (total / TASKS).toFixed(4), ''],
      ]),
    );
    console.log('\nexamples:');
    for (const [k] of sorted) console.log(`  ${k}: ${samples.get(k)}`);
  } finally {
    pg.Client.prototype.query = original;
    await subject.teardown().catch(() => {});
    await probe.end();
    await dropPgDatabase(database);
  }
}

await main();

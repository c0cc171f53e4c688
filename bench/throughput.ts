// Throughput benchmark on PostgreSQL: enqueue rates, processing rate, start latency.
// Run: npm run bench:throughput [-- --tasks 20000 --concurrency 10 --no-events]
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { MaintenanceTaskProcessor, Processor, Upkeep, UPKEEP_ENTITIES, UPKEEP_MIGRATIONS } from '../src';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const TASKS = arg('tasks', 20_000);
const CONCURRENCY = arg('concurrency', 10);
const SINGLE = arg('single', 2_000);
const CLAIM_BATCH = arg('claim-batch', 200);
const LATENCY_SAMPLES = arg('latency-samples', 200);
const persistArg = process.argv.indexOf('--persist');
// --no-events: store none; --persist failed,cancelled: store only those types; default: all.
const EVENTS: boolean | string[] = process.argv.includes('--no-events') ? false : persistArg > 0 ? process.argv[persistArg + 1]!.split(',') : true;
const PG = { host: process.env.PGHOST ?? '127.0.0.1', port: Number(process.env.PGPORT ?? 5432), username: process.env.PGUSER ?? 'postgres', password: process.env.PGPASSWORD ?? '' };

@Processor('bench-noop')
class NoopProcessor extends MaintenanceTaskProcessor<null> {
  process(): null {
    return null;
  }
}

const log = (line: string) => process.stdout.write(`${line}\n`);
const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function main() {
  const dbName = `upkeep_bench_${Date.now()}`;
  const admin = new DataSource({ type: 'postgres', ...PG, database: 'test' });
  await admin.initialize();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const dataSource = new DataSource({ type: 'postgres', ...PG, database: dbName, entities: [...UPKEEP_ENTITIES], migrations: [...UPKEEP_MIGRATIONS], migrationsRun: true, extra: { max: 20 } });
  await dataSource.initialize();
  const upkeep = new Upkeep({ dataSource, processors: [NoopProcessor], settings: { persistEvents: EVENTS, maxQueueSize: 1000 } });
  log(`upkeep throughput benchmark: PostgreSQL, ${TASKS} no-op tasks, concurrency ${CONCURRENCY}, claimBatchSize ${CLAIM_BATCH}, events ${EVENTS === true ? 'all persisted' : EVENTS === false ? 'off' : `persisted: ${EVENTS.join(', ')}`}`);
  try {
    // 1. Single enqueue.
    log(`[1/4] enqueueing ${SINGLE} tasks one by one...`);
    let t0 = performance.now();
    for (let i = 0; i < SINGLE; i++) await upkeep.createTask(NoopProcessor.create({}), { startAt: new Date(Date.now() + 86_400_000) });
    const singleRate = rate(SINGLE, performance.now() - t0);
    await dataSource.query('DELETE FROM maintenance_tasks');

    // 2. Bulk enqueue.
    log(`[2/4] bulk-enqueueing ${TASKS} tasks in batches of 1000...`);
    t0 = performance.now();
    for (let i = 0; i < TASKS; i += 1000) {
      await upkeep.createTasks(Array.from({ length: Math.min(1000, TASKS - i) }, () => ({ processor: NoopProcessor.create({}) })));
    }
    const bulkRate = rate(TASKS, performance.now() - t0);

    // 3. Processing.
    log(`[3/4] processing ${TASKS} tasks...`);
    let completed = 0;
    const allDone = new Promise<void>((resolve) =>
      upkeep.events.on('task:completed', () => {
        if (++completed === TASKS) resolve();
      }),
    );
    const progress = setInterval(() => log(`      ${completed}/${TASKS} completed`), 1000);
    const runner = upkeep.createRunner({ concurrency: CONCURRENCY, claimBatchSize: CLAIM_BATCH });
    t0 = performance.now();
    await runner.start();
    await allDone;
    const processMs = performance.now() - t0;
    clearInterval(progress);
    const processRate = rate(TASKS, processMs);

    // 4. Start latency while idle (LISTEN/NOTIFY wakes the runner).
    log(`[4/4] measuring start latency over ${LATENCY_SAMPLES} tasks enqueued one at a time into an idle runner...`);
    await new Promise((r) => setTimeout(r, 300));
    const latencies: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const started = upkeep.events.next('task:started');
      const t = performance.now();
      await upkeep.createTask(NoopProcessor.create({}));
      await started;
      latencies.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 5));
    }
    latencies.sort((a, b) => a - b);
    await runner.stop();

    const counts = await upkeep.countByStatus();
    log('');
    log('  measure                              value');
    log('  ---------------------------------    -------------');
    log(`  single enqueue (createTask)          ${singleRate.toLocaleString('en')} tasks/s`);
    log(`  bulk enqueue (createTasks x1000)     ${bulkRate.toLocaleString('en')} tasks/s`);
    log(`  processing (concurrency ${String(CONCURRENCY).padEnd(3)})        ${processRate.toLocaleString('en')} tasks/s  (${(processMs / 1000).toFixed(2)} s for ${TASKS})`);
    log(`  start latency p50 / p95 / max        ${pct(latencies, 50).toFixed(2)} / ${pct(latencies, 95).toFixed(2)} / ${latencies[latencies.length - 1]!.toFixed(2)} ms`);
    log(`  tasks by status                      ${JSON.stringify(counts)}`);
    await upkeep.close();
  } finally {
    await dataSource.destroy();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.destroy();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

/**
 * Where the start latency goes: one idle default runner on PostgreSQL, tasks enqueued one at
 * a time (20 ms apart), each timed from before `createTask` to its handler, with the steps in
 * between (createTask resolved, the claim that brought the task sent and back, task:started).
 *
 *   npx tsx bench/start-latency.ts [--samples 100]
 */
import { UpkeepSubject } from './peers/upkeep';
import { createPgDatabase, dropPgDatabase, PgProbe } from './lib/pg';
import { fmt, intFlag, loadAverage, log, machine, sleep, table } from './lib/util';

const SAMPLES = intFlag('samples', 100);

async function main(): Promise<void> {
  const database = `bench_latency_${Date.now().toString(36)}`;
  log(`start latency by step: upkeep (defaults) on PostgreSQL, ${fmt(SAMPLES)} sequential enqueues; commit ${machine().commit}; load ${loadAverage().join(', ')}`);
  await createPgDatabase(database);
  const probe = new PgProbe(database);
  await probe.connect();
  const subject = new UpkeepSubject({ name: 'latency', dialect: 'postgres', pgDatabase: database, probe });
  try {
    await subject.setup(0);
    const up = subject.upkeepInstance();
    let ran: (() => void) | undefined;
    const worker = await subject.startWorker(() => ran?.());
    let startedAt = 0;
    up.events.on('task:started', () => (startedAt = performance.now()));
    const store = up.internals.runnerStore;
    const claim = store.claim.bind(store);
    let sentAt = 0;
    let backAt = 0;
    store.claim = async (options) => {
      const sent = performance.now();
      const rows = await claim(options);
      if (rows.length) [sentAt, backAt] = [sent, performance.now()];
      return rows;
    };
    const steps = ['createTask resolved', 'claim sent', 'claim back', 'task:started', 'handler ran'];
    const samples: number[][] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const done = new Promise<void>((resolve) => (ran = resolve));
      const t0 = performance.now();
      await subject.addOne();
      const enqueued = performance.now() - t0;
      await done;
      samples.push([enqueued, sentAt - t0, backAt - t0, startedAt - t0, performance.now() - t0]);
      await sleep(20);
    }
    await worker.stop();
    const pct = (k: number, p: number) => samples.map((s) => s[k]!).sort((a, b) => a - b)[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))]!.toFixed(1);
    console.log(`\nms after the createTask call, over ${samples.length} tasks (load at end ${loadAverage().join(', ')})\n`);
    console.log(table([['step', 'p50', 'p95', 'max'], ...steps.map((step, k) => [step, pct(k, 50), pct(k, 95), pct(k, 100)])]));
  } finally {
    await subject.teardown().catch(() => {});
    await probe.end();
    await dropPgDatabase(database);
  }
}

await main();

/**
 * The 200,000-task backlog on PostgreSQL: bulk-enqueue a deep backlog, then drain it
 * with one upkeep runner at default settings, sampling the process's RSS every second.
 *
 *   npm run bench:backlog [-- --tasks 200000 --cap 1800 --no-analyze]     (standalone: its own throwaway database)
 *
 * `npm run bench` runs it last and compares the drain rate with the 20,000-task rate.
 */
import { pathToFileURL } from 'node:url';
import { UpkeepSubject } from './peers/upkeep';
import { createPgDatabase, dropPgDatabase, PgProbe } from './lib/pg';
import { fmt, intFlag, log, waitFor } from './lib/util';

export interface BacklogFigures {
  tasks: number;
  enqueueRate: number;
  drainRate: number;
  /** Rate over the first 20,000 tasks (or a tenth of the backlog when smaller) of the drain. */
  firstSliceRate: number;
  firstSlice: number;
  /** Rate over the last 20,000 tasks. */
  lastSliceRate: number;
  rssMb: { beforeEnqueue: number; drainStart: number; peak: number; end: number };
  heapUsedMb: { drainStart: number; peak: number; end: number };
  samples: Array<{ s: number; done: number; rssMb: number; heapMb: number }>;
  /** Longest the drain may take; past it the rates are over the tasks run so far. */
  capS: number;
  capped: boolean;
  /** Tasks stored as finished when the drain ended (the rates are over these). */
  drained: number;
  /** Handler runs when the drain ended (ahead of `drained` when completions lag). */
  runsAtEnd: number;
  error?: string;
}

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

/**
 * `capSeconds` is asked when the drain starts (after the enqueue), so the drain gets what is
 * left of the caller's budget. `analyze`: ANALYZE after the enqueue (not timed).
 */
export async function runBacklog(database: string, probe: PgProbe, tasks: number, capSeconds: () => number = () => 1800, analyze = true): Promise<BacklogFigures> {
  const subject = new UpkeepSubject({ name: 'backlog', dialect: 'postgres', pgDatabase: database, probe });
  const figures: BacklogFigures = {
    tasks,
    enqueueRate: Number.NaN,
    drainRate: Number.NaN,
    firstSliceRate: Number.NaN,
    firstSlice: Math.min(20_000, Math.floor(tasks / 10)),
    lastSliceRate: Number.NaN,
    rssMb: { beforeEnqueue: mb(process.memoryUsage().rss), drainStart: 0, peak: 0, end: 0 },
    heapUsedMb: { drainStart: 0, peak: 0, end: 0 },
    samples: [],
    capS: 0,
    capped: false,
    drained: 0,
    runsAtEnd: 0,
  };
  await subject.setup(0);
  let worker: { stop(): Promise<void> } | undefined;
  try {
    log(`[backlog] enqueueing ${fmt(tasks)} tasks in batches of 1,000...`);
    let t0 = performance.now();
    for (let i = 0; i < tasks; i += 20_000) {
      await subject.addBatches(Math.min(20_000, tasks - i), 1000);
      log(`[backlog]   ${fmt(Math.min(tasks, i + 20_000))}/${fmt(tasks)} enqueued`);
    }
    figures.enqueueRate = (tasks / (performance.now() - t0)) * 1000;
    if (analyze) await probe.query('ANALYZE');
    const capS = capSeconds();
    figures.capS = capS;
    globalThis.gc?.();
    const start = process.memoryUsage();
    figures.rssMb.drainStart = mb(start.rss);
    figures.heapUsedMb.drainStart = mb(start.heapUsed);
    log(`[backlog] draining with one runner at default settings (RSS ${figures.rssMb.drainStart} MB at start; ${analyze ? 'table analyzed' : 'no ANALYZE'}; up to ${capS} s)...`);
    let runs = 0;
    let firstSliceAt = Number.NaN;
    let lastSliceFrom = Number.NaN;
    const lastSliceStart = tasks - figures.firstSlice;
    t0 = performance.now();
    worker = await subject.startWorker(() => {
      runs += 1;
      if (runs === figures.firstSlice) firstSliceAt = performance.now();
      if (runs === lastSliceStart) lastSliceFrom = performance.now();
    });
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      const s = (performance.now() - t0) / 1000;
      figures.samples.push({ s: Math.round(s), done: runs, rssMb: mb(m.rss), heapMb: mb(m.heapUsed) });
      figures.rssMb.peak = Math.max(figures.rssMb.peak, mb(m.rss));
      figures.heapUsedMb.peak = Math.max(figures.heapUsedMb.peak, mb(m.heapUsed));
      if (figures.samples.length % 5 === 0) log(`[backlog]   ${fmt(runs)}/${fmt(tasks)} run, ${fmt(runs / s)}/s, RSS ${mb(m.rss)} MB, heap ${mb(m.heapUsed)} MB`);
    }, 1000);
    try {
      const deadline = t0 + capS * 1000;
      await waitFor('backlog drained', () => runs >= tasks || performance.now() > deadline, capS * 1000 + 60_000, 20);
      figures.capped = runs < tasks;
      if (!figures.capped) await waitFor('backlog completions stored', async () => (await subject.countDone()) >= tasks, 60_000, 20);
    } finally {
      clearInterval(sampler);
    }
    const end = performance.now();
    // Capped: the rate is over the completions stored by then, not the handler runs.
    figures.runsAtEnd = runs;
    figures.drained = figures.capped ? await subject.countDone() : tasks;
    figures.drainRate = (figures.drained / (end - t0)) * 1000;
    figures.firstSliceRate = (figures.firstSlice / (firstSliceAt - t0)) * 1000;
    figures.lastSliceRate = figures.capped ? Number.NaN : (figures.firstSlice / (end - lastSliceFrom)) * 1000;
    if (figures.capped) log(`[backlog] CAPPED after ${capS} s with ${fmt(runs)}/${fmt(tasks)} run, ${fmt(figures.drained)} stored as finished`);
    const m = process.memoryUsage();
    figures.rssMb.end = mb(m.rss);
    figures.heapUsedMb.end = mb(m.heapUsed);
    figures.rssMb.peak = Math.max(figures.rssMb.peak, figures.rssMb.end);
    log(
      `[backlog] ${fmt(figures.drained)} of ${fmt(tasks)} run at ${fmt(figures.drainRate)}/s (first ${fmt(figures.firstSlice)}: ${fmt(figures.firstSliceRate)}/s, last ${fmt(figures.firstSlice)}: ${fmt(figures.lastSliceRate)}/s); ` +
        `RSS ${figures.rssMb.drainStart} MB at start, ${figures.rssMb.peak} MB peak, ${figures.rssMb.end} MB at the end`,
    );
  } catch (error) {
    figures.error = error instanceof Error ? error.message : String(error);
    log(`[backlog] FAILED ${figures.error}`);
  } finally {
    await worker?.stop().catch(() => {});
    await subject.teardown().catch(() => {});
  }
  return figures;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const tasks = intFlag('tasks', 200_000);
  const database = `bench_backlog_${Date.now()}`;
  await createPgDatabase(database);
  const probe = new PgProbe(database);
  await probe.connect();
  try {
    const figures = await runBacklog(database, probe, tasks, () => intFlag('cap', 1800), !process.argv.includes('--no-analyze'));
    console.log(JSON.stringify({ ...figures, samples: undefined }, null, 2));
  } finally {
    await probe.end();
    await dropPgDatabase(database);
  }
}

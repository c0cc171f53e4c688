// One subject's round of the PostgreSQL scenario, and the throughput-only round used
// on MariaDB and SQLite. Every phase catches its own failure so one broken library
// cannot stop the suite: the figure becomes NaN and the error is kept.
import type { PgProbe } from './pg';
import type { QueueSubject, Worker } from './subject';
import { fmt, log, percentile, sleep, waitFor } from './util';

export interface RoundFigures {
  singleEnqueue?: number;
  processAfterSingle?: number;
  bulkEnqueue?: number;
  processAfterBulk?: number;
  statementsPerTask?: number;
  latencyP50?: number;
  latencyP95?: number;
  latencyMax?: number;
  latencySamples?: number;
  /** Phases stopped at their time cap (their rate is over the tasks run until then). */
  capped?: string[];
  /** What the library logged at warn/error level during the round, by kind. */
  logged?: Record<string, number>;
  errors?: string[];
}

export interface ScenarioSizes {
  single: number;
  producers: number;
  tasks: number;
  batch: number;
  latencySamples: number;
  /** Seconds the latency phase may take at most (a polling library gets fewer samples). */
  latencyBudgetS: number;
  /** Seconds a processing phase may take at most (keeps the suite inside its time budget). */
  processCapS: number;
  /** PostgreSQL: ANALYZE after each enqueue phase (not timed). */
  analyze?: boolean;
}

interface Running {
  worker: Worker;
  runs: () => number;
  nextStart: () => Promise<void>;
}

async function startCounting(subject: QueueSubject): Promise<Running> {
  let runs = 0;
  let waiter: (() => void) | undefined;
  const worker = await subject.startWorker(() => {
    runs += 1;
    const w = waiter;
    waiter = undefined;
    w?.();
  });
  return {
    worker,
    runs: () => runs,
    nextStart: () => new Promise<void>((resolve) => (waiter = resolve)),
  };
}

export interface Drained {
  ms: number;
  /** Tasks the rate is over: `n`, or those stored as finished when the phase hit its cap. */
  tasks: number;
  capped: boolean;
}

/**
 * Waits until `n` handler runs happened and the database shows `doneTarget` finished tasks
 * (ms since `t0`), or until `capS` seconds have passed: then the rate is over the runs so far.
 */
async function drain(label: string, subject: QueueSubject, running: Running, n: number, doneTarget: number, t0: number, capS: number): Promise<Drained> {
  const deadline = t0 + capS * 1000;
  const ticker = setInterval(() => log(`    ${label}: ${fmt(running.runs())}/${fmt(n)} run, ${fmt(running.runs() / ((performance.now() - t0) / 1000))}/s`), 5000);
  try {
    await waitFor(`${label}: ${n} handler runs`, () => running.runs() >= n || performance.now() > deadline, capS * 1000 + 60_000, 5);
    if (running.runs() < n) {
      const ms = performance.now() - t0;
      // Count what the database holds as finished, not the handler runs: a library may run
      // handlers well ahead of storing their completions (upkeep did by thousands of tasks).
      const stored = (await subject.countDone()) - (doneTarget - n);
      log(`    ${label}: CAPPED at ${capS} s with ${fmt(running.runs())}/${fmt(n)} run, ${fmt(stored)} stored as finished; the rate is over those stored`);
      return { ms, tasks: Math.max(0, stored), capped: true };
    }
    await waitFor(`${label}: ${doneTarget} completions stored`, async () => (await subject.countDone()) >= doneTarget, 60_000, 10);
  } finally {
    clearInterval(ticker);
  }
  return { ms: performance.now() - t0, tasks: n, capped: false };
}

async function phase(figures: RoundFigures, what: string, fn: () => Promise<void>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (error) {
    const message = `${what}: ${error instanceof Error ? error.message : String(error)}`;
    (figures.errors ??= []).push(message);
    log(`    FAILED ${message}`);
    return false;
  }
}

/** The full PostgreSQL round: single enqueue, processing, bulk enqueue, processing with commit counting, start latency. */
export async function pgRound(subject: QueueSubject, probe: PgProbe, sizes: ScenarioSizes, round: number): Promise<RoundFigures> {
  const f: RoundFigures = {};
  const tag = `[pg r${round} ${subject.name}]`;
  if (!(await phase(f, 'setup', () => subject.setup(round)))) return f;
  let running: Running | undefined;
  try {
    await phase(f, 'single enqueue', async () => {
      let issued = 0;
      const t0 = performance.now();
      const producer = async () => {
        while (issued < sizes.single) {
          issued += 1;
          await subject.addOne();
        }
      };
      await Promise.all(Array.from({ length: sizes.producers }, producer));
      f.singleEnqueue = (sizes.single / (performance.now() - t0)) * 1000;
      log(`${tag} single enqueue, ${sizes.producers} producers: ${fmt(f.singleEnqueue)}/s`);
      if (sizes.analyze) await probe.query('ANALYZE');
    });
    await phase(f, 'processing after single enqueue', async () => {
      const before = await subject.countDone();
      const t0 = performance.now();
      running = await startCounting(subject);
      const d = await drain(`${tag} processing`, subject, running, sizes.single, before + sizes.single, t0, sizes.processCapS);
      f.processAfterSingle = (d.tasks / d.ms) * 1000;
      await running.worker.stop();
      running = undefined;
      if (d.capped) (f.capped ??= []).push('processAfterSingle');
      if (d.capped) await subject.discardPending();
      log(`${tag} processing ${fmt(d.tasks)} after single enqueue: ${fmt(f.processAfterSingle)}/s${d.capped ? ' (capped)' : ''}`);
    });
    await phase(f, 'bulk enqueue', async () => {
      const t0 = performance.now();
      await subject.addBatches(sizes.tasks, sizes.batch);
      f.bulkEnqueue = (sizes.tasks / (performance.now() - t0)) * 1000;
      log(`${tag} bulk enqueue, ${fmt(sizes.batch)} per call: ${fmt(f.bulkEnqueue)}/s`);
      if (sizes.analyze) await probe.query('ANALYZE');
    });
    await phase(f, 'processing after bulk enqueue', async () => {
      await sleep(1100); // let every backend flush its commit counter
      const before = await subject.countDone();
      const c0 = await probe.commits();
      const own0 = probe.ownCommits;
      const t0 = performance.now();
      running = await startCounting(subject);
      const d = await drain(`${tag} processing`, subject, running, sizes.tasks, before + sizes.tasks, t0, sizes.processCapS);
      f.processAfterBulk = (d.tasks / d.ms) * 1000;
      if (d.capped) {
        (f.capped ??= []).push('processAfterBulk');
        // Stop the worker first so the commit count covers the runs counted, then empty the queue for the latency phase.
        await running.worker.stop();
        running = undefined;
      }
      await sleep(1100);
      const c1 = await probe.commits();
      const runs = d.capped ? d.tasks : sizes.tasks;
      f.statementsPerTask = (c1 - c0 - (probe.ownCommits - own0)) / runs;
      if (d.capped) await subject.discardPending();
      log(`${tag} processing ${fmt(d.tasks)} after bulk enqueue: ${fmt(f.processAfterBulk)}/s${d.capped ? ' (capped)' : ''}, ${f.statementsPerTask.toFixed(4)} commits per task`);
    });
    await phase(f, 'start latency', async () => {
      running ??= await startCounting(subject);
      await sleep(300);
      const latencies: number[] = [];
      const deadline = performance.now() + sizes.latencyBudgetS * 1000;
      while (latencies.length < sizes.latencySamples && performance.now() < deadline) {
        const started = running.nextStart();
        const t = performance.now();
        await subject.addOne();
        await Promise.race([started, sleep(10_000).then(() => Promise.reject(new Error('a task did not start within 10 s')))]);
        latencies.push(performance.now() - t);
        await sleep(5);
      }
      latencies.sort((a, b) => a - b);
      f.latencySamples = latencies.length;
      f.latencyP50 = percentile(latencies, 50);
      f.latencyP95 = percentile(latencies, 95);
      f.latencyMax = latencies.at(-1);
      log(`${tag} start latency over ${latencies.length} enqueues: p50 ${f.latencyP50.toFixed(1)} / p95 ${f.latencyP95.toFixed(1)} / max ${f.latencyMax!.toFixed(1)} ms`);
    });
  } finally {
    await (running as Running | undefined)?.worker.stop().catch(() => {});
    await subject.teardown().catch((error: unknown) => log(`${tag} teardown failed: ${String(error)}`));
    const logged = subject.takeLogCounts?.();
    if (logged && Object.keys(logged).length) {
      f.logged = logged;
      log(`${tag} logged: ${Object.entries(logged).map(([k, n]) => `${n} x ${k}`).join('; ')}`);
    }
  }
  return f;
}

/** MariaDB / SQLite round: bulk enqueue and processing after it. */
export async function throughputRound(label: string, subject: QueueSubject, sizes: ScenarioSizes, round: number): Promise<RoundFigures> {
  const f: RoundFigures = {};
  const tag = `[${label} r${round} ${subject.name}]`;
  if (!(await phase(f, 'setup', () => subject.setup(round)))) return f;
  let running: Running | undefined;
  try {
    await phase(f, 'bulk enqueue', async () => {
      const t0 = performance.now();
      await subject.addBatches(sizes.tasks, sizes.batch);
      f.bulkEnqueue = (sizes.tasks / (performance.now() - t0)) * 1000;
      log(`${tag} bulk enqueue, ${fmt(sizes.batch)} per call: ${fmt(f.bulkEnqueue)}/s`);
    });
    await phase(f, 'processing after bulk enqueue', async () => {
      const t0 = performance.now();
      running = await startCounting(subject);
      const d = await drain(`${tag} processing`, subject, running, sizes.tasks, sizes.tasks, t0, sizes.processCapS);
      f.processAfterBulk = (d.tasks / d.ms) * 1000;
      if (d.capped) (f.capped ??= []).push('processAfterBulk');
      log(`${tag} processing ${fmt(d.tasks)}: ${fmt(f.processAfterBulk)}/s${d.capped ? ' (capped)' : ''}`);
    });
  } finally {
    await (running as Running | undefined)?.worker.stop().catch(() => {});
    await subject.teardown().catch((error: unknown) => log(`${tag} teardown failed: ${String(error)}`));
    const logged = subject.takeLogCounts?.();
    if (logged && Object.keys(logged).length) {
      f.logged = logged;
      log(`${tag} logged: ${Object.entries(logged).map(([k, n]) => `${n} x ${k}`).join('; ')}`);
    }
  }
  return f;
}

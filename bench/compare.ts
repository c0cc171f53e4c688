/**
 * upkeep side by side with graphile-worker, pg-boss and raw SQL on PostgreSQL, the same
 * throughput scenario on MariaDB and SQLite, ServicePool against generic-pool and tarn,
 * and the 200,000-task backlog. One process, interleaved rounds (A, B, C, A, B, C ...),
 * a fresh schema per round, medians over the rounds.
 *
 *   npm run bench                 the whole suite (13-14 minutes on 2 vCPU)
 *   npm run bench -- --quick      smoke test: 1 round, 2,000 tasks, short pool runs (about 1.5 minutes)
 *
 * Flags: --rounds N, --tasks N (processing, default 20,000), --single N (single enqueue,
 * default 2,000), --latency-samples N (default 300), --other-tasks N (MariaDB and SQLite, default 3,000),
 * --backlog N (default 200,000; 0 skips),
 * --only pg,mariadb,sqlite,pool,backlog, --with-events-off (a second upkeep column with
 * persistEvents: false), --pool-seconds S, --process-cap S (longest a processing phase may
 * run, default 30; past it the rate is over the tasks run so far, marked "capped"),
 * --budget-min M (default 13: the backlog drain, run last, is capped to what is left),
 * --no-analyze (no ANALYZE after enqueue phases on PostgreSQL).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBacklog } from './backlog';
import { ratiosSvg } from './lib/chart';
import { createPgDatabase, dropPgDatabase, PgProbe } from './lib/pg';
import { buildReport, type Results } from './lib/report';
import { pgRound, throughputRound, type RoundFigures, type ScenarioSizes } from './lib/scenario';
import type { QueueSubject } from './lib/subject';
import { flag, fmt, has, intFlag, loadAverage, log, machine } from './lib/util';
import { GraphileWorkerSubject } from './peers/graphile-worker';
import { PgBossSubject } from './peers/pg-boss';
import { measurePool, POOL_CONFIG, POOL_NAMES } from './peers/pools';
import { myVersion } from './lib/mysql';
import { RAW_CONFIG, rawMariadb, rawPostgres, rawSqlite, sqliteVersion } from './peers/raw-sql';
import { UpkeepSubject } from './peers/upkeep';

const QUICK = has('quick');
const ROUNDS = intFlag('rounds', QUICK ? 1 : 3);
const sizes: ScenarioSizes = {
  single: intFlag('single', QUICK ? 500 : 2_000),
  producers: 10,
  tasks: intFlag('tasks', QUICK ? 2_000 : 20_000),
  batch: 1_000,
  latencySamples: intFlag('latency-samples', QUICK ? 50 : 300),
  latencyBudgetS: QUICK ? 5 : 15,
  processCapS: intFlag('process-cap', QUICK ? 20 : 30),
};
/** The whole run's time budget: the backlog drain (last) gets what is left of it. */
const BUDGET_S = intFlag('budget-min', QUICK ? 6 : 13) * 60;
const runStart = performance.now();
const secondsLeft = () => BUDGET_S - (performance.now() - runStart) / 1000;
/** MariaDB and SQLite process several times slower than PostgreSQL here: fewer tasks keep the suite under 15 minutes. */
const OTHER_TASKS = intFlag('other-tasks', QUICK ? 1_000 : 3_000);
const BACKLOG = intFlag('backlog', QUICK ? 10_000 : 200_000);
const POOL_SECONDS = Number(flag('pool-seconds', QUICK ? '0.2' : '1'));
const SECTIONS = new Set((flag('only') ?? 'pg,mariadb,sqlite,pool,backlog').split(','));
const SECOND_UPKEEP = has('with-events-off');
/**
 * ANALYZE the bench database after each enqueue phase (not timed), for every library. The
 * shared server runs with autovacuum off; a production server's autovacuum would have
 * analyzed a table this size. --no-analyze measures without (upkeep's claim then sorts
 * every PENDING row: see docs/performance.md).
 */
const ANALYZE = !has('no-analyze');
const BORROWERS = [1, 10, 100];

let results: Results;
const here = dirname(fileURLToPath(import.meta.url));
const runId = `${Date.now().toString(36)}`;

async function postgresSuite(results: Results): Promise<void> {
  const database = `bench_${runId}`;
  await createPgDatabase(database);
  const probe = new PgProbe(database);
  await probe.connect();
  try {
    const [version] = await probe.query<{ v: string; fsync: string; sc: string }>("SELECT split_part(version(), ' ', 2) AS v, current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sc");
    results.databases.postgres = `PostgreSQL ${version!.v} (fsync ${version!.fsync}, synchronous_commit ${version!.sc})`;
    log(`[pg] ${results.databases.postgres}, database ${database}`);
    const subjects: QueueSubject[] = [
      new UpkeepSubject({ name: 'upkeep', dialect: 'postgres', pgDatabase: database, probe }),
      ...(SECOND_UPKEEP ? [new UpkeepSubject({ name: 'upkeep (events off)', dialect: 'postgres', pgDatabase: database, probe, settings: { persistEvents: false } })] : []),
      new GraphileWorkerSubject(database, probe),
      new PgBossSubject(database, probe),
    ];
    for (const s of subjects) {
      log(`[pg] ${s.name}: ${JSON.stringify(s.config)}`);
      results.config[`postgres ${s.name}`] = s.config;
      results.postgres.rounds[s.name] = [];
    }
    log(`[pg] raw SQL: ${JSON.stringify(RAW_CONFIG)}`);
    log(`[pg] ${ANALYZE ? 'ANALYZE after each enqueue phase, for every library (the server has autovacuum off)' : 'no ANALYZE (--no-analyze): tables have no statistics'}`);
    results.config.analyzeAfterEnqueue = ANALYZE;
    results.config['raw SQL'] = RAW_CONFIG;
    results.postgres.rounds['raw SQL'] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      log(`[pg] round ${round}/${ROUNDS}`);
      for (const s of subjects) results.postgres.rounds[s.name]!.push(await pgRound(s, probe, { ...sizes, analyze: ANALYZE }, round));
      const raw: RoundFigures = {};
      try {
        const { setTimeout: sleep } = await import('node:timers/promises');
        await sleep(1100);
        const c0 = await probe.commits();
        const own0 = probe.ownCommits;
        const r = await rawPostgres(database, `r${round}_raw`, sizes.tasks);
        await sleep(1100);
        raw.processAfterBulk = r.rate;
        raw.statementsPerTask = ((await probe.commits()) - c0 - (probe.ownCommits - own0)) / sizes.tasks;
        log(`[pg r${round} raw SQL] ${fmt(sizes.tasks)} claimed and finished: ${fmt(r.rate)}/s, ${raw.statementsPerTask.toFixed(4)} commits per task`);
      } catch (error) {
        raw.errors = [String(error)];
        log(`[pg r${round} raw SQL] FAILED ${String(error)}`);
      }
      results.postgres.rounds['raw SQL']!.push(raw);
    }
  } finally {
    await probe.end();
    await dropPgDatabase(database);
  }
}

async function otherDatabases(results: Results, which: 'mariadb' | 'sqlite'): Promise<void> {
  const subject = new UpkeepSubject({ name: 'upkeep', dialect: which, myPrefix: `bench_${runId}` });
  results.databases[which] = which === 'mariadb' ? `MariaDB ${await myVersion()}` : `SQLite ${sqliteVersion()} (better-sqlite3 file, default pragmas)`;
  log(`[${which}] ${results.databases[which]}`);
  results.config[`${which} upkeep`] = subject.config;
  const rounds: RoundFigures[] = [];
  const raws: RoundFigures[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    log(`[${which}] round ${round}/${ROUNDS}`);
    rounds.push(await throughputRound(which, subject, { ...sizes, tasks: OTHER_TASKS }, round));
    const raw: RoundFigures = {};
    try {
      const r = which === 'mariadb' ? await rawMariadb(`bench_${runId}_raw${round}`, OTHER_TASKS) : await rawSqlite(OTHER_TASKS);
      raw.processAfterBulk = r.rate;
      log(`[${which} r${round} raw SQL] ${fmt(OTHER_TASKS)} claimed and finished: ${fmt(r.rate)}/s${r.deadlocks ? ` (${r.deadlocks} deadlocks retried)` : ""}`);
    } catch (error) {
      raw.errors = [String(error)];
      log(`[${which} r${round} raw SQL] FAILED ${String(error)}`);
    }
    raws.push(raw);
  }
  results[which] = { rounds: { upkeep: rounds, 'raw SQL': raws } };
}

async function poolSuite(results: Results): Promise<void> {
  results.config.pools = POOL_CONFIG;
  log(`[pool] ${JSON.stringify(POOL_CONFIG)}`);
  for (const name of POOL_NAMES) for (const b of BORROWERS) results.pool[`${name}|${b}`] = [];
  // Warm every pool's code paths (JIT) once before the measured rounds.
  for (const name of POOL_NAMES) for (const b of BORROWERS) await withTimeout(measurePool(name, b, 0.1, 0.05), 10_000).catch(() => {});
  for (let round = 1; round <= ROUNDS; round++) {
    for (const b of BORROWERS) {
      for (const name of POOL_NAMES) {
        try {
          const ops = await withTimeout(measurePool(name, b, POOL_SECONDS, Math.min(0.3, POOL_SECONDS / 2)), (POOL_SECONDS + 10) * 1000);
          results.pool[`${name}|${b}`]!.push(ops);
          log(`[pool r${round}] ${name}, ${b} borrower${b === 1 ? '' : 's'} over 10 instances: ${fmt(ops)} acquire+release/s`);
        } catch (error) {
          results.pool[`${name}|${b}`]!.push(Number.NaN);
          (results.errors ??= []).push(`pool ${name} ${b} borrowers round ${round}: ${String(error)}`);
          log(`[pool r${round}] ${name}, ${b} borrowers FAILED ${String(error)}`);
        }
      }
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no result within ${ms / 1000} s`)), ms)))]).finally(() => clearTimeout(timer));
}

async function main(): Promise<void> {
  // A failure inside one library (or upkeep's sources being edited mid-run) is recorded, not fatal.
  process.on('uncaughtException', (error) => {
    log(`uncaught exception (recorded, run goes on): ${error.stack ?? String(error)}`);
    (results.errors ??= []).push(`uncaught: ${String(error)}`);
  });
  process.on('unhandledRejection', (error) => {
    log(`unhandled rejection (recorded, run goes on): ${String(error)}`);
    (results.errors ??= []).push(`unhandled rejection: ${String(error)}`);
  });
  const started = new Date();
  results = {
    startedAt: started.toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    quick: QUICK,
    machine: machine(),
    loadAverageAtStart: loadAverage(),
    rounds: ROUNDS,
    sizes,
    otherDatabaseTasks: OTHER_TASKS,
    budgetS: BUDGET_S,
    backlogTasks: BACKLOG,
    databases: {},
    config: {},
    postgres: { rounds: {} },
    pool: {},
  };
  log(`upkeep side-by-side bench${QUICK ? ' (quick)' : ''}: ${ROUNDS} round(s), ${fmt(sizes.tasks)} tasks processed, ${fmt(sizes.single)} single enqueues, concurrency 10`);
  log(`machine: ${results.machine.cpus} x ${results.machine.cpu}, ${results.machine.memoryGiB} GiB, Node ${results.machine.node}, commit ${results.machine.commit}${results.machine.srcModifiedSinceCommit ? ' (src/ has uncommitted changes)' : ''}`);
  log(`load average at start: ${results.loadAverageAtStart.join(', ')}`);
  const t0 = runStart;
  // Pools first, in a process that has not run any database client yet: measured after the
  // database sections, generic-pool and tarn (which hand over through the event loop) ran up
  // to 10x slower than in a fresh process, ServicePool (microtasks only) did not.
  const handles = (after: string) => {
    const counts: Record<string, number> = {};
    for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
    (results.activeResources ??= {})[after] = counts;
    log(`active resources after ${after}: ${JSON.stringify(counts)}`);
  };
  if (SECTIONS.has('pool')) await poolSuite(results);
  if (SECTIONS.has('pg')) {
    await postgresSuite(results);
    handles('PostgreSQL');
  }
  if (SECTIONS.has('mariadb')) {
    await otherDatabases(results, 'mariadb');
    handles('MariaDB');
  }
  if (SECTIONS.has('sqlite')) {
    await otherDatabases(results, 'sqlite');
    handles('SQLite');
  }
  if (SECTIONS.has('backlog') && BACKLOG > 0) {
    const database = `bench_${runId}_backlog`;
    await createPgDatabase(database);
    const probe = new PgProbe(database);
    await probe.connect();
    try {
      log(`[backlog] ${Math.round(secondsLeft())} s of the ${BUDGET_S / 60}-minute budget left; the drain gets what the enqueue leaves of it`);
      results.backlog = await runBacklog(database, probe, BACKLOG, () => Math.max(30, Math.floor(secondsLeft() - 10)), ANALYZE);
    } finally {
      await probe.end();
      await dropPgDatabase(database);
    }
  }
  results.loadAverageAtEnd = loadAverage();
  results.durationS = Math.round((performance.now() - t0) / 1000);

  const report = buildReport(results);
  console.log(`\n${report.text}`);
  log(`load average at end: ${results.loadAverageAtEnd.join(', ')}; took ${results.durationS} s`);

  const dir = join(here, 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = started.toISOString().replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
  const suffix = QUICK ? '-quick' : '';
  const jsonPath = join(dir, `${stamp}${suffix}.json`);
  writeFileSync(jsonPath, `${JSON.stringify({ ...results, medians: report.medians, ratios: report.bars, targets: report.targets }, null, 2)}\n`);
  writeFileSync(join(dir, `${stamp}${suffix}.md`), `# ${results.command}, ${results.startedAt}\n\nLoad average at start ${results.loadAverageAtStart.join(', ')}, at end ${results.loadAverageAtEnd.join(', ')}; ${results.durationS} s; commit ${results.machine.commit}.\n\n${report.markdown}\n`);
  const svgPath = join(dir, `ratios${suffix}.svg`);
  const svg = await ratiosSvg('upkeep ÷ peer, medians of one run', `${results.command} · ${started.toISOString().slice(0, 16)}Z · commit ${results.machine.commit} · ${results.machine.cpus} vCPU, PostgreSQL on the same host`, report.bars);
  writeFileSync(svgPath, svg);
  log(`wrote ${jsonPath} and ${svgPath}`);
}

await main();

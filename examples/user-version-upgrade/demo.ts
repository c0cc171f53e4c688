/**
 * `npm run demo`: the first seed's UserVersionUpgradeProcessor, end to end, on an SQLite
 * file in a fresh temporary folder.
 *
 *   1. creates a few thousand users, most of them on old settings versions;
 *   2. enqueues one task per 100 users and runs them all with a progress bar;
 *   3. does it all again on the same database and shows that nothing is upgraded twice;
 *   4. prints a summary, and exits non-zero if any task is not COMPLETED, a user is left
 *      behind, or the second run upgraded anyone.
 *
 * Flags: --users N (default 3000), --concurrency N (default 4), --keep (keep the folder).
 */
import 'reflect-metadata';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DataSource, LessThan } from 'typeorm';
import { Upkeep, UPKEEP_ENTITIES, UPKEEP_MIGRATIONS, type TaskStatus, type UpkeepEventMap } from '../../src';
import { ORG_SETTINGS_VERSION } from './settings-store';
import { CreateUserSettings1764400000000, UserSettings } from './user-settings.entity';
import { setExampleDataSource, UserVersionUpgradeProcessor, type UserVersionUpgradeResult } from './user-version-upgrade.processor';

/** Users per task: the processor accepts at most 100. */
const CHUNK = 100;

/** Where the demo writes; a TTY gets a live bar, anything else periodic lines. */
export interface DemoOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const USAGE = `Usage: tsx examples/user-version-upgrade/demo.ts [--users N] [--concurrency N] [--keep]

  --users N         users to create (default 3000)
  --concurrency N   tasks run at once (default 4)
  --keep            keep the temporary folder with the SQLite file and print its path
  --help            show this help
`;

interface RunReport {
  label: string;
  tasks: number;
  completed: number;
  failed: number;
  retrying: number;
  upgraded: number;
  skipped: number;
  enqueueMs: number;
  runMs: number;
}

// ------------------------------------------------------------------------- formatting

const fmt = (n: number) => n.toLocaleString('en-US');
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function painter(out: DemoOutput) {
  const on = Boolean(out.isTTY) && !process.env.NO_COLOR;
  const wrap = (code: string) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { bold: wrap('1'), dim: wrap('2'), green: wrap('32'), red: wrap('31'), yellow: wrap('33') };
}

/**
 * A progress bar driven by task events. On a TTY it redraws one line in place (`\r`, at
 * most every 50 ms); elsewhere (CI logs, pipes) it prints a line at each quarter.
 */
class ProgressBar {
  private done = 0;
  private failed = 0;
  private upgraded = 0;
  private lastDraw = 0;
  private drawnDone = -1;
  private nextQuarter = 1;
  private lastLine = '';
  private readonly started = Date.now();
  private readonly paint: ReturnType<typeof painter>;

  constructor(
    private readonly out: DemoOutput,
    private readonly total: number,
  ) {
    this.paint = painter(out);
    if (out.isTTY) this.draw();
  }

  completed(upgraded: number): void {
    this.done++;
    this.upgraded += upgraded;
    this.update();
  }

  failedOne(): void {
    this.done++;
    this.failed++;
    this.update();
  }

  finish(): void {
    if (this.out.isTTY) {
      if (this.drawnDone !== this.done) this.draw();
      this.out.write('\n');
    } else {
      this.line();
    }
  }

  private update(): void {
    if (this.out.isTTY) {
      if (Date.now() - this.lastDraw >= 50 || this.done === this.total) this.draw();
      return;
    }
    // Not a terminal: one line per quarter reached.
    let crossed = false;
    while (this.nextQuarter <= 4 && this.done * 4 >= this.total * this.nextQuarter) {
      this.nextQuarter++;
      crossed = true;
    }
    if (crossed) this.line();
  }

  private stats(): string {
    const pct = this.total ? Math.floor((this.done / this.total) * 100) : 100;
    const failed = this.failed ? ` · ${this.paint.red(`${fmt(this.failed)} failed`)}` : '';
    return `${fmt(this.done)}/${fmt(this.total)} tasks ${String(pct).padStart(3)}% · ${fmt(this.upgraded)} users upgraded${failed} · ${secs(Date.now() - this.started)}`;
  }

  private draw(): void {
    this.lastDraw = Date.now();
    this.drawnDone = this.done;
    const width = Math.max(10, Math.min(30, (this.out.columns ?? 80) - 70));
    const filled = this.total ? Math.round((this.done / this.total) * width) : width;
    const bar = this.paint.green('█'.repeat(filled)) + this.paint.dim('░'.repeat(width - filled));
    this.out.write(`\r\x1b[2K  ${bar} ${this.stats()}`);
  }

  private line(): void {
    // Same counts as the last line (e.g. at the end): nothing new to say.
    const key = `${this.done}/${this.failed}/${this.upgraded}`;
    if (key === this.lastLine) return;
    this.lastLine = key;
    this.out.write(`  progress: ${this.stats()}\n`);
  }
}

// ------------------------------------------------------------------------- the demo

/** Deterministic mix of users: every fifth is current, the rest spread over versions 0-3. */
function makeUsers(count: number): UserSettings[] {
  const themes = ['light', 'dark', null];
  const languages = ['en', 'EN_us', 'fr', 'pt_br', null];
  const models = ['gpt-4', 'gpt-3.5-turbo', 'claude-2', 'claude-sonnet-4', null];
  const now = new Date();
  const users: UserSettings[] = [];
  for (let i = 0; i < count; i++) {
    const current = i % 5 === 0;
    const version = current ? ORG_SETTINGS_VERSION : i % ORG_SETTINGS_VERSION;
    const fresh = version === 0;
    users.push(
      Object.assign(new UserSettings(), {
        id: `user-${String(i + 1).padStart(6, '0')}`,
        userVersion: version,
        theme: current ? 'dark' : fresh ? null : themes[i % themes.length]!,
        language: current ? 'en' : fresh ? null : languages[i % languages.length]!,
        llmModel: current ? 'claude-sonnet-4' : fresh ? null : models[i % models.length]!,
        maxIterations: current ? 100 : fresh ? null : [50, 100, 1000][i % 3]!,
        confirmationMode: current,
        updatedAt: now,
      }),
    );
  }
  return users;
}

/** Enqueues one task per 100 users and runs everything due, drawing progress from events. */
async function runOnce(label: string, upkeep: Upkeep, userIds: string[], concurrency: number, out: DemoOutput): Promise<RunReport> {
  const paint = painter(out);
  const chunks: string[][] = [];
  for (let i = 0; i < userIds.length; i += CHUNK) chunks.push(userIds.slice(i, i + CHUNK));

  const enqueueStart = Date.now();
  const tasks = await upkeep.createTasks(chunks.map((ids) => ({ processor: UserVersionUpgradeProcessor.create({ userIds: ids }) })));
  const enqueueMs = Date.now() - enqueueStart;
  out.write(`\n${paint.bold(label)}: enqueued ${fmt(tasks.length)} tasks of up to ${CHUNK} users in ${enqueueMs} ms\n`);

  const mine = new Set(tasks.map((t) => t.id));
  const report: RunReport = { label, tasks: tasks.length, completed: 0, failed: 0, retrying: 0, upgraded: 0, skipped: 0, enqueueMs, runMs: 0 };
  const bar = new ProgressBar(out, tasks.length);
  const onCompleted = ({ task, info }: UpkeepEventMap['task:completed']) => {
    if (!mine.has(task.id)) return;
    const result = info as unknown as UserVersionUpgradeResult;
    report.completed++;
    report.upgraded += result.upgraded;
    report.skipped += result.skipped;
    bar.completed(result.upgraded);
  };
  const onFailed = ({ task, error, willRetry, retryAt }: UpkeepEventMap['task:failed']) => {
    if (!mine.has(task.id)) return;
    if (out.isTTY) out.write('\n');
    if (willRetry) {
      // Retried later with a backoff: runDue() leaves it PENDING, the summary will say so.
      report.retrying++;
      out.write(`  ${paint.yellow('task failed, retry scheduled')} at ${retryAt?.toISOString()}: ${task.id}: ${error.message}\n`);
      return;
    }
    report.failed++;
    bar.failedOne();
    out.write(`  ${paint.red('task failed')}: ${task.id}: ${error.message}\n`);
  };
  upkeep.events.on('task:completed', onCompleted);
  upkeep.events.on('task:failed', onFailed);
  try {
    const summary = await upkeep.runDue({ concurrency });
    report.runMs = summary.durationMs;
  } finally {
    upkeep.events.off('task:completed', onCompleted);
    upkeep.events.off('task:failed', onFailed);
    bar.finish();
  }
  return report;
}

function printSummary(out: DemoOutput, runs: RunReport[], byStatus: Record<TaskStatus, number>, leftBehind: number, problems: string[]): void {
  const paint = painter(out);
  const col = (s: string) => s.padStart(12);
  const row = (name: string, values: string[]) => out.write(`  ${name.padEnd(18)}${values.map(col).join('')}\n`);
  out.write(`\n${paint.bold('Summary')}\n`);
  row('', runs.map((r) => r.label));
  row('tasks enqueued', runs.map((r) => fmt(r.tasks)));
  row('tasks completed', runs.map((r) => fmt(r.completed)));
  row('tasks failed', runs.map((r) => fmt(r.failed)));
  if (runs.some((r) => r.retrying)) row('retries pending', runs.map((r) => fmt(r.retrying)));
  row('users upgraded', runs.map((r) => fmt(r.upgraded)));
  row('already current', runs.map((r) => fmt(r.skipped)));
  row('wall time', runs.map((r) => secs(r.enqueueMs + r.runMs)));
  row('tasks/s', runs.map((r) => (r.tasks / Math.max(0.001, (r.enqueueMs + r.runMs) / 1000)).toFixed(1)));

  const statuses = (Object.entries(byStatus) as Array<[TaskStatus, number]>).filter(([, n]) => n > 0);
  const shown = statuses.map(([s, n]) => (s === 'COMPLETED' ? paint.green(`${s} ${fmt(n)}`) : paint.red(`${s} ${fmt(n)}`))).join(' · ');
  out.write(`\n  tasks by status   ${shown || 'none'}  ${paint.dim('(upkeep.countByStatus(), both runs)')}\n`);
  out.write(`  users below v${ORG_SETTINGS_VERSION}    ${leftBehind ? paint.red(fmt(leftBehind)) : '0'}\n\n`);
  if (problems.length) {
    for (const p of problems) out.write(`${paint.red('✘ FAILED')}: ${p}\n`);
  } else {
    out.write(`${paint.green('✔ OK')}: every task COMPLETED, every user is on settings version ${ORG_SETTINGS_VERSION}, and the second run upgraded nobody.\n`);
  }
}

/**
 * Runs the demo; resolves with the exit code (0 when everything checked out). Exported
 * for the test; running the file directly calls it with the command line.
 */
export async function main(argv: string[] = process.argv.slice(2), out: DemoOutput = process.stdout): Promise<number> {
  let flags;
  try {
    flags = parseArgs({
      args: argv,
      options: {
        users: { type: 'string', default: '3000' },
        concurrency: { type: 'string', default: '4' },
        keep: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    out.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    out.write(USAGE);
    return 0;
  }
  const users = Number(flags.users);
  const concurrency = Number(flags.concurrency);
  if (!Number.isInteger(users) || users < 1 || users > 1_000_000) {
    out.write(`--users must be an integer from 1 to 1000000 (got ${JSON.stringify(flags.users)})\n\n${USAGE}`);
    return 2;
  }
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 100) {
    out.write(`--concurrency must be an integer from 1 to 100 (got ${JSON.stringify(flags.concurrency)})\n\n${USAGE}`);
    return 2;
  }

  const paint = painter(out);
  const dir = await mkdtemp(join(tmpdir(), 'upkeep-demo-'));
  const file = join(dir, 'demo.db');
  const dataSource = new DataSource({
    type: 'better-sqlite3',
    database: file,
    enableWAL: true,
    entities: [...UPKEEP_ENTITIES, UserSettings],
    // upkeep's tables, then the example's own `user_settings` table.
    migrations: [...UPKEEP_MIGRATIONS, CreateUserSettings1764400000000],
    migrationsRun: true,
    logging: false,
  });
  let upkeep: Upkeep | undefined;
  try {
    await dataSource.initialize();
    setExampleDataSource(dataSource);
    upkeep = new Upkeep({ dataSource, processors: [UserVersionUpgradeProcessor] });

    out.write(`${paint.bold('upkeep demo')}: user-version-upgrade on SQLite ${paint.dim(file)}\n`);
    const seedStart = Date.now();
    const seeded = makeUsers(users);
    await dataSource.transaction(async (tx) => {
      for (let i = 0; i < seeded.length; i += 500) await tx.getRepository(UserSettings).insert(seeded.slice(i, i + 500));
    });
    const outdated = seeded.filter((u) => u.userVersion < ORG_SETTINGS_VERSION).length;
    out.write(
      `Created ${fmt(users)} users in ${Date.now() - seedStart} ms: ${fmt(outdated)} below settings version ${ORG_SETTINGS_VERSION}, ${fmt(users - outdated)} already current\n`,
    );

    const ids = seeded.map((u) => u.id);
    const first = await runOnce('run 1', upkeep, ids, concurrency, out);
    const second = await runOnce('run 2', upkeep, ids, concurrency, out);

    const byStatus = await upkeep.countByStatus();
    const leftBehind = await dataSource.getRepository(UserSettings).countBy({ userVersion: LessThan(ORG_SETTINGS_VERSION) });
    const problems: string[] = [];
    const notCompleted = (Object.entries(byStatus) as Array<[TaskStatus, number]>).filter(([s, n]) => s !== 'COMPLETED' && n > 0);
    if (notCompleted.length) problems.push(`tasks not COMPLETED: ${notCompleted.map(([s, n]) => `${s} ${n}`).join(', ')}`);
    if (first.upgraded !== outdated) problems.push(`run 1 upgraded ${first.upgraded} users, expected ${outdated}`);
    if (leftBehind) problems.push(`${leftBehind} users are still below settings version ${ORG_SETTINGS_VERSION}`);
    if (second.upgraded) problems.push(`run 2 upgraded ${second.upgraded} users, expected 0`);
    printSummary(out, [first, second], byStatus, leftBehind, problems);
    return problems.length ? 1 : 0;
  } catch (error) {
    out.write(`\n${paint.red('demo failed')}: ${(error as Error)?.stack ?? String(error)}\n`);
    return 1;
  } finally {
    await upkeep?.close();
    setExampleDataSource(undefined);
    if (dataSource.isInitialized) await dataSource.destroy();
    if (flags.keep) out.write(`Kept ${dir} (SQLite file: ${file})\n`);
    else await rm(dir, { recursive: true, force: true });
  }
}

// Run only when executed directly (`tsx demo.ts`), not when a test imports main().
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}

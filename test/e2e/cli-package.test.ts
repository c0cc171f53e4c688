// `npx upkeep` from the packed package, as a host would run it: the sources are built (without
// type declarations, which the CLI does not need) and packed with `npm pack` into a tarball,
// which is unpacked into a fresh consumer's node_modules next to links to the peers installed
// here (no network), with the bin linked as npm links it. Then migrate, enqueue, status,
// run-due, retry and bad input on SQLite and PostgreSQL, checking exit codes and that bad
// input changes nothing.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseProblem, type TestDatabase } from '../helpers/db';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PEERS = ['typeorm', 'reflect-metadata', 'class-validator', 'class-transformer', 'better-sqlite3', 'pg', 'commander', 'croner', 'eventemitter3'];
const MISSING_ID = '00000000-0000-4000-8000-000000000000';

let work: string;
let tarball: string;

/** Builds the current sources into a staging copy and packs it. */
function packCurrentSources(): string {
  const stage = join(work, 'stage');
  mkdirSync(stage);
  for (const entry of ['src', 'package.json', 'tsconfig.json', 'README.md', 'CHANGELOG.md', 'LICENSE']) cpSync(join(repo, entry), join(stage, entry), { recursive: true });
  writeFileSync(join(stage, 'tsup.config.ts'), readFileSync(join(repo, 'tsup.config.ts'), 'utf8').replace('dts: true', 'dts: false'));
  symlinkSync(join(repo, 'node_modules'), join(stage, 'node_modules'), 'dir');
  execFileSync(process.execPath, [join(repo, 'node_modules', 'tsup', 'dist', 'cli-default.js')], { cwd: stage, stdio: 'pipe' });
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: stage, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [info] = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }> }>;
  expect(info!.files.map((f) => f.path)).toContain('dist/cli/bin.js');
  expect(info!.files.some((f) => f.path.endsWith('.map'))).toBe(false);
  return join(work, info!.filename);
}

/** A fresh consumer with the tarball unpacked as node_modules/upkeep and links to the peers. */
function makeConsumer(name: string, dataSourceOptions: object): string {
  const dir = join(work, name);
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, '.bin'), { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', modules]);
  execFileSync('mv', [join(modules, 'package'), join(modules, 'upkeep')]);
  for (const peer of PEERS) symlinkSync(join(repo, 'node_modules', peer), join(modules, peer), 'dir');
  chmodSync(join(modules, 'upkeep', 'dist', 'cli', 'bin.js'), 0o755);
  symlinkSync('../upkeep/dist/cli/bin.js', join(modules, '.bin', 'upkeep'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, private: true, type: 'module' }, null, 2));
  writeFileSync(
    join(dir, 'upkeep.config.mjs'),
    `import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { IsBoolean, IsOptional, IsString } from 'class-validator';
import { MaintenanceTaskProcessor, Processor, UPKEEP_ENTITIES, UPKEEP_MIGRATIONS } from 'upkeep';

class Greet extends MaintenanceTaskProcessor {
  async process(task, ctx) {
    if (this.fail) throw new Error('asked to fail');
    ctx.progress(1, 1);
    return { greeted: this.name };
  }
}
IsString()(Greet.prototype, 'name');
IsOptional()(Greet.prototype, 'fail');
IsBoolean()(Greet.prototype, 'fail');
Processor('greet')(Greet);

export default {
  dataSource: new DataSource({ ...${JSON.stringify(dataSourceOptions)}, entities: [...UPKEEP_ENTITIES], migrations: [...UPKEEP_MIGRATIONS], logging: false }),
  processors: [Greet],
  schedules: [{ name: 'nightly-greeting', cron: '0 3 * * *', processor: () => Greet.create({ name: 'night' }) }],
};
`,
  );
  return dir;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `npx --no -- upkeep ARGS` in `cwd` (--no: never install anything, so nothing reaches the
 * network); with `direct`, the linked bin itself (what npx runs), to save npm's start-up.
 */
function upkeep(cwd: string, ...args: string[]): Promise<Run> {
  const direct = args[0] === '--direct';
  const rest = direct ? args.slice(1) : args;
  const [file, argv] = direct ? [join(cwd, 'node_modules', '.bin', 'upkeep'), rest] : ['npx', ['--no', '--', 'upkeep', ...rest]];
  return new Promise((resolve) => {
    execFile(file, argv, { cwd, env: { ...process.env, NO_COLOR: '1', CI: 'true' }, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr: stderr.replace(/^npm warn.*\n/gm, '') });
    });
  });
}
const cli = (cwd: string, ...args: string[]) => upkeep(cwd, '--direct', ...args);
const json = <T = Record<string, any>>(run: Run): T => {
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as T;
};

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'upkeep-cli-e2e-'));
  tarball = packCurrentSources();
}, 300_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const pgProblem = await databaseProblem('postgres');

describe.each([
  ['sqlite', false],
  ['postgres', Boolean(pgProblem)],
] as const)('npx upkeep from the packed tarball on %s', (db, skip) => {
  let database: TestDatabase | undefined;
  let dir: string;

  beforeAll(async () => {
    if (skip) return;
    if (db === 'sqlite') {
      dir = makeConsumer(db, { type: 'better-sqlite3', database: join(work, 'sqlite-app.db') });
    } else {
      database = await createTestDatabase('postgres');
      const { type, host, port, username, password, database: name } = database.options as { type: string; host: string; port: number; username: string; password: string; database: string };
      dir = makeConsumer(db, { type, host, port, username, password, database: name });
    }
  });
  afterAll(async () => database?.drop());

  it.skipIf(skip)('migrate, enqueue, status --json, run-due, retry, with exit codes; bad input changes nothing', async () => {
    const migrated = json<{ applied: string[] }>(await upkeep(dir, 'migrate', '--json'));
    expect(migrated.applied).toContain('UpkeepInit1764300000000');

    const ok = json<{ id: string; status: string }>(await cli(dir, 'enqueue', 'greet', '--props', '{"name":"Ada"}', '--json'));
    expect(ok.status).toBe('PENDING');
    const bad = json<{ id: string }>(await cli(dir, 'enqueue', 'greet', '--props', '{"name":"Bob","fail":true}', '--max-attempts', '1', '--json'));

    const before = json<{ total: number; byStatus: Record<string, number>; byType: Record<string, Record<string, number>> }>(await upkeep(dir, 'status', '--json'));
    expect(before.total).toBe(2);
    expect(before.byStatus.PENDING).toBe(2);
    expect(before.byType.greet).toEqual({ PENDING: 2 });

    const ran = await upkeep(dir, 'run-due');
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toContain('run-due: 2 tasks due');
    expect(ran.stdout).toMatch(/progress: 2\/2 tasks/);
    expect(ran.stdout).toMatch(/run-due: 2 claimed · 1 completed · 1 failed/);
    expect(ran.stdout).not.toContain('\r');

    const after = json<{ byStatus: Record<string, number> }>(await cli(dir, 'status', '--json'));
    expect(after.byStatus).toMatchObject({ COMPLETED: 1, ERROR: 1, PENDING: 0 });
    if (db === 'sqlite') {
      const listed = json<{ items: Array<{ id: string }> }>(await cli(dir, 'list', '--status', 'ERROR', '--type', 'greet', '--json'));
      expect(listed.items.map((t) => t.id)).toEqual([bad.id]);
      expect(json<{ items: Array<{ name: string }> }>(await cli(dir, 'schedules', '--json')).items.map((s) => s.name)).toEqual(['nightly-greeting']);
      const badType = await cli(dir, 'enqueue', 'no-such-type');
      expect(badType.code).toBe(2);
      expect(badType.stderr).toContain('unknown processor type "no-such-type"');
    }

    // Bad input: a clear message, the documented exit code, and nothing changes.
    const illegal = await cli(dir, 'retry', ok.id);
    expect(illegal.code).toBe(4);
    expect(illegal.stderr).toMatch(/COMPLETED/);
    const missing = await cli(dir, 'show', MISSING_ID);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(MISSING_ID);
    const unknown = await cli(dir, 'frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    const noConfig = await cli(dir, 'status', '--config', 'missing.config.mjs');
    expect(noConfig.code).toBe(5);
    expect(noConfig.stderr).toContain('missing.config.mjs');
    expect(json(await cli(dir, 'status', '--json'))).toEqual(after);

    // retry: the failed task runs again (and fails again, being told to): --strict exits 6.
    const retried = json<{ task: { status: string; attempts: number } }>(await cli(dir, 'retry', bad.id, '--json'));
    expect(retried.task).toMatchObject({ status: 'PENDING', attempts: 0 });
    const strict = await cli(dir, 'run-due', '--strict');
    expect(strict.code).toBe(6);
    expect(strict.stdout).toMatch(/1 claimed · 0 completed · 1 failed/);
    // About 14 CLI processes of ~1 s CPU each: generous for a loaded two-core machine.
  }, 400_000);
});

describe('npx upkeep worker', () => {
  it('runs tasks as they come, logs each one, and stops gracefully on SIGTERM with exit code 0', async () => {
    const dir = join(work, 'sqlite');
    expect(existsSync(dir)).toBe(true);
    const child = spawn(join(dir, 'node_modules', '.bin', 'upkeep'), ['worker', '--concurrency', '2'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const until = async (re: RegExp) => {
      for (let i = 0; i < 600 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 100));
      expect(out, err).toMatch(re);
    };
    try {
      await until(/worker started/);
      const task = json<{ id: string }>(await cli(dir, 'enqueue', 'greet', '--props', '{"name":"Worker"}', '--json'));
      await until(new RegExp(`task ${task.id} \\(greet\\) completed`));
      expect(out).toMatch(new RegExp(`task ${task.id} \\(greet\\) started: attempt 1`));
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).toMatch(/worker stopped: 1 completed/);
  });
});

describe('npx upkeep without a config', () => {
  it('says where it looked and exits 5; --help exits 0 and lists the exit codes', async () => {
    const empty = join(work, 'empty');
    mkdirSync(empty);
    // The bin of the sqlite consumer (made above), run from a folder with no config.
    const bin = join(work, 'sqlite', 'node_modules', '.bin', 'upkeep');
    expect(existsSync(bin)).toBe(true);
    const run = (args: string[]) =>
      new Promise<Run>((resolve) => execFile(bin, args, { cwd: empty }, (e, stdout, stderr) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout, stderr })));
    const status = await run(['status']);
    expect(status.code).toBe(5);
    expect(status.stderr).toContain('upkeep.config.mjs');
    expect(status.stderr).toContain(empty);
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes: 0 ok');
  });
});

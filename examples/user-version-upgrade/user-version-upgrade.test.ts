import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataSource, In } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProcessorValidationError, Upkeep, UPKEEP_ENTITIES, UPKEEP_MIGRATIONS, type MaintenanceTask, type TaskContext } from '../../src';
import { createFakeClock, createTestUpkeep, runProcessor, type TestUpkeep } from '../../src/testing';
import { main } from './demo';
import { ORG_SETTINGS_VERSION, upgradeSettings } from './settings-store';
import { CreateUserSettings1764400000000, UserSettings } from './user-settings.entity';
import { setExampleDataSource, UserVersionUpgradeProcessor } from './user-version-upgrade.processor';

const here = dirname(fileURLToPath(import.meta.url));
const demoPath = join(here, 'demo.ts');
const repoRoot = join(here, '..', '..');

/** Runs the demo as a real process (`node --import tsx demo.ts ...`), stdout piped (not a TTY). */
function runDemo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', demoPath, ...args], {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Collects what main() writes. */
function captureOutput(isTTY: boolean) {
  const chunks: string[] = [];
  return { out: { isTTY, columns: 100, write: (s: string) => chunks.push(s) }, text: () => chunks.join('') };
}

describe('demo (npm run demo)', () => {
  it('runs as a real process: every task COMPLETED, the second run upgrades nobody, exit code 0', async () => {
    const { code, stdout, stderr } = await runDemo(['--users', '500']);
    expect(stderr).not.toMatch(/Error/);
    expect(code, stdout).toBe(0);
    // 500 users: every fifth is current, so 400 need an upgrade; 5 tasks of 100 per run.
    expect(stdout).toContain('Created 500 users');
    expect(stdout).toContain('400 below settings version 4, 100 already current');
    expect(stdout).toMatch(/run 1: enqueued 5 tasks of up to 100 users/);
    // Not a TTY: periodic progress lines, no carriage returns.
    expect(stdout).toContain('progress: 5/5 tasks 100% · 400 users upgraded');
    expect(stdout).toContain('progress: 5/5 tasks 100% · 0 users upgraded');
    expect(stdout).not.toContain('\r');
    expect(stdout).toMatch(/tasks completed\s+5\s+5/);
    expect(stdout).toMatch(/tasks failed\s+0\s+0/);
    expect(stdout).toMatch(/users upgraded\s+400\s+0\n/);
    expect(stdout).toMatch(/already current\s+100\s+500/);
    expect(stdout).toMatch(/tasks by status\s+COMPLETED 10\s/);
    expect(stdout).toMatch(/users below v4\s+0/);
    expect(stdout).toContain('✔ OK');
    // The temporary folder is removed without --keep.
    expect(stdout).not.toContain('Kept ');
  });

  it('draws a live bar on a TTY and keeps the folder with --keep', async () => {
    const { out, text } = captureOutput(true);
    const code = await main(['--users', '300', '--concurrency', '2', '--keep'], out);
    expect(code, text()).toBe(0);
    expect(text()).toContain('\r\x1b[2K');
    expect(text()).toMatch(/3\/3 tasks 100% · .*240.* users upgraded/);
    const kept = /Kept (\S+) /.exec(text())?.[1];
    expect(kept).toBeTruthy();
    rmSync(kept!, { recursive: true, force: true });
  });

  it.each([[['--users', '0']], [['--users', 'many']], [['--concurrency', '-1']], [['--nope']]])('rejects bad flags %j with exit code 2', async (args) => {
    const { out, text } = captureOutput(false);
    expect(await main(args, out)).toBe(2);
    expect(text()).toContain('Usage:');
  });
});

describe('UserVersionUpgradeProcessor on SQLite', () => {
  let dir: string;
  let dataSource: DataSource;
  let upkeep: Upkeep;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upkeep-uvu-test-'));
    dataSource = new DataSource({
      type: 'better-sqlite3',
      database: join(dir, 'test.db'),
      entities: [...UPKEEP_ENTITIES, UserSettings],
      migrations: [...UPKEEP_MIGRATIONS, CreateUserSettings1764400000000],
      migrationsRun: true,
    });
    await dataSource.initialize();
    upkeep = new Upkeep({ dataSource, processors: [UserVersionUpgradeProcessor] });
  });
  afterEach(() => setExampleDataSource(undefined));
  afterAll(async () => {
    await upkeep?.close();
    if (dataSource?.isInitialized) await dataSource.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Inserts `count` users named `${prefix}-N`; users with i % 5 < 2 are current, the rest on versions 0-3. */
  async function seed(prefix: string, count: number): Promise<{ ids: string[]; outdated: string[]; current: string[] }> {
    const rows = Array.from({ length: count }, (_, i) => {
      const current = i % 5 < 2;
      return Object.assign(new UserSettings(), {
        id: `${prefix}-${String(i).padStart(3, '0')}`,
        userVersion: current ? ORG_SETTINGS_VERSION : i % ORG_SETTINGS_VERSION,
        theme: current ? 'light' : null,
        language: current ? 'de' : 'EN_us',
        llmModel: current ? 'my-own-model' : 'gpt-4',
        maxIterations: current ? 7 : 1000,
        confirmationMode: false,
        updatedAt: new Date('2020-01-01T00:00:00Z'),
      });
    });
    await dataSource.getRepository(UserSettings).insert(rows);
    return {
      ids: rows.map((r) => r.id),
      outdated: rows.filter((r) => r.userVersion < ORG_SETTINGS_VERSION).map((r) => r.id),
      current: rows.filter((r) => r.userVersion >= ORG_SETTINGS_VERSION).map((r) => r.id),
    };
  }

  const load = (ids: string[]) => dataSource.getRepository(UserSettings).find({ where: { id: In(ids) }, order: { id: 'ASC' } });

  it('a task with 100 ids upgrades exactly the outdated users; a second run upgrades none', async () => {
    setExampleDataSource(dataSource);
    const { ids, outdated, current } = await seed('a', 100);
    expect(outdated).toHaveLength(60);
    const currentBefore = await load(current);

    const first = await upkeep.createTask(UserVersionUpgradeProcessor.create({ userIds: ids }));
    await upkeep.runDue();
    const done = (await upkeep.getTask(first.id))!;
    expect(done.status).toBe('COMPLETED');
    expect(done.info).toEqual({ upgraded: 60, skipped: 40 });
    expect(done.progressDone).toBe(60);

    const after = await load(outdated);
    expect(after.every((u) => u.userVersion === ORG_SETTINGS_VERSION)).toBe(true);
    expect(after.every((u) => u.updatedAt.getTime() > Date.parse('2020-01-01T00:00:00Z'))).toBe(true);
    // a-004 was on version 0, so it went through every step.
    expect(after.find((u) => u.id === 'a-004')).toMatchObject({ userVersion: 4, llmModel: 'gpt-4o', language: 'en-US', maxIterations: 500, confirmationMode: true, theme: 'system' });
    // Users who were already current are untouched, down to updated_at.
    expect(await load(current)).toEqual(currentBefore);

    const second = await upkeep.createTask(UserVersionUpgradeProcessor.create({ userIds: ids }));
    await upkeep.runDue();
    const again = (await upkeep.getTask(second.id))!;
    expect(again.status).toBe('COMPLETED');
    expect(again.info).toEqual({ upgraded: 0, skipped: 100 });
    expect((await load(outdated)).map((u) => u.updatedAt)).toEqual(after.map((u) => u.updatedAt));
  });

  it('unknown user ids are skipped, not errors', async () => {
    setExampleDataSource(dataSource);
    const { ids } = await seed('b', 5);
    const task = await upkeep.createTask(UserVersionUpgradeProcessor.create({ userIds: [...ids, 'nobody-1', 'nobody-2'] }));
    await upkeep.runDue();
    expect((await upkeep.getTask(task.id))!.info).toEqual({ upgraded: 3, skipped: 4 });
  });

  it('create() rejects 101 ids (and non-string ids) with ProcessorValidationError naming userIds', () => {
    const ids = Array.from({ length: 101 }, (_, i) => `u${i}`);
    let error: unknown;
    try {
      UserVersionUpgradeProcessor.create({ userIds: ids });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProcessorValidationError);
    expect((error as ProcessorValidationError).message).toContain('userIds');
    expect((error as ProcessorValidationError).problems.map((p) => p.property)).toEqual(['userIds']);
    expect(Object.keys((error as ProcessorValidationError).problems[0]!.constraints)).toContain('arrayMaxSize');

    expect(() => UserVersionUpgradeProcessor.create({ userIds: [1, 2] as unknown as string[] })).toThrow(/userIds/);
    expect(UserVersionUpgradeProcessor.create({ userIds: ids.slice(0, 100) }).userIds).toHaveLength(100);
  });

  it('stops at the next user when its signal aborts, and a later attempt finishes the rest', async () => {
    setExampleDataSource(dataSource);
    const { ids, outdated } = await seed('c', 50);
    const processor = UserVersionUpgradeProcessor.create({ userIds: ids });
    const controller = new AbortController();
    const ctx = {
      signal: controller.signal,
      progress: (done: number) => {
        if (done === 10) controller.abort(new Error('stop requested'));
      },
      throwIfStopping: () => {
        if (controller.signal.aborted) throw controller.signal.reason;
      },
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    } as unknown as TaskContext;
    await expect(processor.process({} as MaintenanceTask, ctx)).rejects.toThrow('stop requested');
    const upgradedSoFar = (await load(outdated)).filter((u) => u.userVersion === ORG_SETTINGS_VERSION);
    expect(upgradedSoFar).toHaveLength(10);

    const resumed = { ...ctx, signal: new AbortController().signal, progress() {}, throwIfStopping() {} } as unknown as TaskContext;
    await expect(processor.process({} as MaintenanceTask, resumed)).resolves.toEqual({ upgraded: outdated.length - 10, skipped: 50 - (outdated.length - 10) });
  });

  it('without a DataSource the task fails once, clearly, and is not retried', async () => {
    const task = await upkeep.createTask(UserVersionUpgradeProcessor.create({ userIds: ['a-000'] }));
    await upkeep.runDue();
    const failed = (await upkeep.getTask(task.id))!;
    expect(failed.status).toBe('ERROR');
    expect(failed.attempts).toBe(1);
    expect(failed.failureReason).toBe('processor_error');
    expect(failed.lastError).toContain('setExampleDataSource');
  });
});

describe('UserVersionUpgradeProcessor with upkeep/testing (in-memory SQLite, fake clock, no runner)', () => {
  let t: TestUpkeep;

  beforeAll(async () => {
    t = await createTestUpkeep({
      processors: [UserVersionUpgradeProcessor],
      entities: [UserSettings],
      migrations: [CreateUserSettings1764400000000],
      clock: createFakeClock('2030-01-01T00:00:00Z'),
    });
  });
  afterEach(() => setExampleDataSource(undefined));
  afterAll(async () => t?.close());

  /** `count` users on version 0 named `${prefix}-N`. */
  async function seedOutdated(prefix: string, count: number): Promise<string[]> {
    const rows = Array.from({ length: count }, (_, i) =>
      Object.assign(new UserSettings(), { id: `${prefix}-${i}`, userVersion: 0, theme: null, language: null, llmModel: null, maxIterations: null, confirmationMode: false, updatedAt: new Date('2020-01-01T00:00:00Z') }),
    );
    await t.dataSource.getRepository(UserSettings).insert(rows);
    return rows.map((r) => r.id);
  }

  it('a task delayed by an hour runs only once the fake clock has moved an hour, and upgrades its users', async () => {
    setExampleDataSource(t.dataSource);
    const ids = await seedOutdated('tu', 3);
    const task = await t.upkeep.createTask(UserVersionUpgradeProcessor.create({ userIds: ids }), { delayMs: 3_600_000 });
    await t.upkeep.runDue();
    expect((await t.upkeep.getTask(task.id))!.status).toBe('PENDING');
    t.clock!.advance(3_600_000);
    await t.upkeep.runDue();
    expect((await t.upkeep.getTask(task.id))!.status).toBe('COMPLETED');
    const users = await t.dataSource.getRepository(UserSettings).find({ where: { id: In(ids) } });
    expect(users.map((u) => u.userVersion)).toEqual([ORG_SETTINGS_VERSION, ORG_SETTINGS_VERSION, ORG_SETTINGS_VERSION]);
  });

  it('runProcessor: stops at the next user when its signal aborts, and a second run finishes the rest', async () => {
    setExampleDataSource(t.dataSource);
    const ids = await seedOutdated('rp', 20);
    const controller = new AbortController();
    const first = runProcessor(UserVersionUpgradeProcessor, { userIds: ids }, {
      signal: controller.signal,
      onProgress: (done) => done === 5 && controller.abort(new Error('stop requested')),
    });
    await expect(first).rejects.toThrow('stop requested');
    const upgraded = await t.dataSource.getRepository(UserSettings).countBy({ id: In(ids), userVersion: ORG_SETTINGS_VERSION });
    expect(upgraded).toBe(5);
    const second = await runProcessor(UserVersionUpgradeProcessor, { userIds: ids });
    expect(second.result).toEqual({ upgraded: 15, skipped: 5 });
    expect(second.progress.at(-1)).toEqual({ done: 15, total: 15 });
    expect(second.logs.map((l) => l.message)).toEqual([`upgraded 15 of 20 users to settings version ${ORG_SETTINGS_VERSION}`]);
  });

  it('runProcessor rejects 101 ids before running, like create()', async () => {
    await expect(runProcessor(UserVersionUpgradeProcessor, { userIds: Array.from({ length: 101 }, (_, i) => `x${i}`) })).rejects.toBeInstanceOf(ProcessorValidationError);
  });
});

describe('upgradeSettings (pure)', () => {
  it('applies every step from the given version and leaves current settings alone', () => {
    const blank = { theme: null, language: null, llmModel: null, maxIterations: null, confirmationMode: false };
    expect(upgradeSettings(blank, 0)).toEqual({ theme: 'system', language: 'en', llmModel: 'claude-sonnet-4', maxIterations: 100, confirmationMode: true });
    const v2 = { theme: 'dark', language: 'pt_br', llmModel: 'gpt-4', maxIterations: 900, confirmationMode: false };
    // From version 2 the model rename (step 1 → 2) is not applied again.
    expect(upgradeSettings(v2, 2)).toEqual({ theme: 'dark', language: 'pt-BR', llmModel: 'gpt-4', maxIterations: 500, confirmationMode: true });
    expect(upgradeSettings(v2, ORG_SETTINGS_VERSION)).toEqual(v2);
  });
});

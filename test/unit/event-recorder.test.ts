// The event recorder against a real SQLite file: an outage is a second connection holding the
// write lock (every INSERT of the recorder fails with SQLITE_BUSY, a passing failure, until it
// lets go); refused rows are a foreign key to a task that does not exist (a task deleted
// meanwhile) and a NULL event type (NOT NULL). No database mock: the only wrapper counts the
// INSERT statements the recorder sends and passes them on unchanged.
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { UpkeepLogger } from '../../src';
import { EventRecorder, type EventRecorderOptions, type EventRow } from '../../src/events/event-recorder';
import { executorFor, type Executor } from '../../src/store/executor';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

interface Logged {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

let database: TestDatabase;
let dataSource: DataSource;
let inserts: number;
let executor: Executor;
let logged: Logged[];
let errors: unknown[];
let lockHolder: Database.Database | undefined;

const logger: UpkeepLogger = {
  debug: (message) => logged.push({ level: 'debug', message }),
  info: (message) => logged.push({ level: 'info', message }),
  warn: (message) => logged.push({ level: 'warn', message }),
  error: (message) => logged.push({ level: 'error', message }),
};
const warnings = () => logged.filter((l) => l.level === 'warn').map((l) => l.message);

function recorder(options: EventRecorderOptions = {}): EventRecorder {
  return new EventRecorder(executor, (error) => errors.push(error), { logger, flushIntervalMs: 10, retryInitialDelayMs: 10, retryMaxDelayMs: 40, ...options });
}

const row = (i: number, extra: Partial<EventRow> = {}): EventRow => ({ taskId: null, eventType: 'runner_note', timestamp: new Date(1_700_000_000_000 + i), details: { i }, ...extra });

/** The `i` of every stored row, in insertion order. */
async function storedIndexes(): Promise<number[]> {
  const rows = (await dataSource.query('SELECT details FROM task_events ORDER BY id')) as Array<{ details: string }>;
  return rows.map((r) => (JSON.parse(r.details) as { i: number }).i);
}

/** A second connection takes the write lock: the recorder's INSERTs fail with SQLITE_BUSY until release. */
function outage(): { release(): void } {
  lockHolder = new Database((database.options as { database: string }).database);
  lockHolder.exec('BEGIN EXCLUSIVE');
  return {
    release: () => {
      lockHolder?.exec('COMMIT');
      lockHolder?.close();
      lockHolder = undefined;
    },
  };
}

beforeEach(async () => {
  // A short busy timeout: a locked database fails the INSERT at once instead of blocking the event loop 5 s.
  database = await createTestDatabase('sqlite', { timeout: 20 } as Partial<DataSourceOptions>);
  dataSource = new DataSource({ ...database.options, migrationsRun: true } as DataSourceOptions);
  await dataSource.initialize();
  const real = executorFor(dataSource, true);
  inserts = 0;
  executor = {
    dialect: real.dialect,
    codec: real.codec,
    query: (sql, params) => {
      if (/^INSERT INTO/i.test(sql)) inserts++;
      return real.query(sql, params);
    },
    transaction: (fn) => real.transaction(fn),
  };
  logged = [];
  errors = [];
});

afterEach(async () => {
  if (lockHolder) {
    lockHolder.exec('ROLLBACK');
    lockHolder.close();
  }
  lockHolder = undefined;
  await dataSource.destroy();
  await database.drop();
});

describe('EventRecorder', () => {
  it('writes one multi-row INSERT per batch on the hot path', async () => {
    const r = recorder({ maxBatch: 500, flushIntervalMs: 1000 });
    for (let i = 0; i < 1200; i++) r.record(row(i));
    expect(await r.flush()).toBe(0);
    expect(await storedIndexes()).toEqual(Array.from({ length: 1200 }, (_, i) => i));
    expect(inserts).toBe(3);
    expect(r.stats).toMatchObject({ written: 1200, retries: 0, droppedRefused: 0, droppedOverBound: 0 });
  });

  it('keeps every row through an outage and writes them, in order, once the database takes writes again', async () => {
    const r = recorder();
    const db = outage();
    for (let i = 0; i < 300; i++) r.record(row(i));
    // The database is away: flush gives up after its timeout and says how many rows wait.
    expect(await r.flush(150)).toBe(300);
    expect(r.pending).toBe(300);
    expect(r.stats.retries).toBeGreaterThan(1);
    expect(warnings().some((w) => w.includes('300 row(s) not written within 150 ms') && w.includes('SQLITE_BUSY'))).toBe(true);
    // A runner flushes at every idle poll: one warning per outage, the next ones at debug.
    expect(await r.flush(50)).toBe(300);
    expect(warnings().filter((w) => w.includes('not written within'))).toHaveLength(1);
    for (let i = 300; i < 400; i++) r.record(row(i));
    db.release();
    expect(await r.flush(5000)).toBe(0);
    expect(await storedIndexes()).toEqual(Array.from({ length: 400 }, (_, i) => i));
    expect(r.stats).toMatchObject({ written: 400, droppedRefused: 0, droppedOverBound: 0, lostAtClose: 0 });
    expect(errors).toEqual([]); // a passing failure is no runner:error
  });

  it('drops only the rows the database refuses: a deleted task (foreign key, quietly) and a NULL type (reported)', async () => {
    const r = recorder({ maxBatch: 50 });
    for (let i = 0; i < 40; i++) {
      if (i === 7) r.record(row(i, { taskId: randomUUID() }));
      else if (i === 23) r.record(row(i, { eventType: null as unknown as string }));
      else r.record(row(i));
    }
    expect(await r.flush()).toBe(0);
    expect(await storedIndexes()).toEqual(Array.from({ length: 40 }, (_, i) => i).filter((i) => i !== 7 && i !== 23));
    expect(r.stats).toMatchObject({ written: 38, droppedRefused: 2, retries: 0 });
    expect(errors).toHaveLength(1);
    expect((errors[0] as { code?: string }).code).toMatch(/^SQLITE_CONSTRAINT_NOTNULL/);
    expect(logged.some((l) => l.level === 'debug' && l.message.includes('the task is gone'))).toBe(true);
  });

  it('bounds memory during an outage: drops the oldest rows over the bound with one warning and a count', async () => {
    const r = recorder({ maxBatch: 100, maxBufferedRows: 1000 });
    const db = outage();
    for (let i = 0; i < 3000; i++) {
      r.record(row(i));
      expect(r.pending).toBeLessThanOrEqual(1000);
    }
    await new Promise((resolve) => setTimeout(resolve, 100)); // a few failing tries
    expect(warnings().filter((w) => w.includes('rows wait for the database'))).toHaveLength(1);
    const dropped = r.stats.droppedOverBound;
    expect(dropped).toBeGreaterThanOrEqual(2000);
    db.release();
    expect(await r.flush(5000)).toBe(0);
    const stored = await storedIndexes();
    expect(stored).toHaveLength(3000 - dropped);
    expect(stored.at(-1)).toBe(2999); // the newest rows are the ones kept
    expect(stored).toEqual([...stored].sort((a, b) => a - b));
    expect(warnings().filter((w) => w.includes(`${dropped} row(s) were dropped during the outage`))).toHaveLength(1);
    expect(errors).toEqual([]);
  });

  it('close gives up on a database that stays away: says how many rows were lost, then works again', async () => {
    const r = recorder();
    const db = outage();
    for (let i = 0; i < 50; i++) r.record(row(i));
    const started = Date.now();
    expect(await r.close(200)).toBe(50);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(r.pending).toBe(0);
    expect(r.stats.lostAtClose).toBe(50);
    expect(warnings().some((w) => w.includes('50 row(s) lost'))).toBe(true);
    db.release();
    r.record(row(50));
    expect(await r.flush(5000)).toBe(0);
    expect(await storedIndexes()).toEqual([50]);
  });
});

import { DataSource, type DataSourceOptions, type EntitySchema, type MixedList } from 'typeorm';
import { InvalidArgumentError } from '../core/errors';
import { Upkeep, type UpkeepOptions } from '../core/upkeep';
import { UPKEEP_ENTITIES } from '../entities';
import { UPKEEP_MIGRATIONS } from '../migrations';
import { createFakeClock, type FakeClock } from './fake-clock';

/** Options of {@link createTestUpkeep}: those of `new Upkeep` (less `dataSource`) and a few of the test database. */
export interface CreateTestUpkeepOptions extends Omit<UpkeepOptions, 'dataSource' | 'clock'> {
  /** The host's own entities, added to `UPKEEP_ENTITIES`. */
  entities?: Array<Function | string | EntitySchema>;
  /** The host's own migrations, run after `UPKEEP_MIGRATIONS`. */
  migrations?: MixedList<Function | string>;
  /**
   * A fake clock (from `createFakeClock`), `true` for one starting now, or a function
   * returning the time. Unset: real time.
   */
  clock?: FakeClock | true | (() => Date);
  /** SQLite file instead of memory (to look at it afterwards). @defaultValue ':memory:' */
  database?: string;
}

/** What {@link createTestUpkeep} gives back. */
export interface TestUpkeep {
  /** The Upkeep under test. */
  upkeep: Upkeep;
  /** Its DataSource: better-sqlite3, migrated. */
  dataSource: DataSource;
  /** The fake clock when one was asked for, else undefined. */
  clock: FakeClock | undefined;
  /** Stops the runners, writes pending events and closes the database. Safe to call twice. */
  close(): Promise<void>;
  /** `close()` for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * An `Upkeep` on an in-memory SQLite database (better-sqlite3) with upkeep's migrations and
 * the host's own run: for unit tests of processors, schedules and admin code, no server needed.
 *
 * ```ts
 * const { upkeep, clock, close } = await createTestUpkeep({ processors: [MyProcessor], clock: true });
 * await upkeep.createTask(MyProcessor.create({ ... }), { delayMs: 60_000 });
 * clock!.advance(60_000);
 * await upkeep.runDue();
 * await close();
 * ```
 */
export async function createTestUpkeep(options: CreateTestUpkeepOptions = {}): Promise<TestUpkeep> {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('createTestUpkeep(options): options must be an object');
  const { entities = [], migrations = [], clock: clockOption, database = ':memory:', ...upkeepOptions } = options;
  const dataSource = new DataSource({
    type: 'better-sqlite3',
    database,
    entities: [...UPKEEP_ENTITIES, ...entities],
    migrations: [...UPKEEP_MIGRATIONS, ...(Array.isArray(migrations) ? migrations : Object.values(migrations))],
    migrationsRun: true,
    logging: false,
  } as DataSourceOptions);
  await dataSource.initialize();
  const clock = clockOption === true ? createFakeClock() : typeof clockOption === 'object' ? clockOption : undefined;
  const now = typeof clockOption === 'function' ? clockOption : clock?.now;
  let upkeep: Upkeep;
  try {
    upkeep = new Upkeep({ ...upkeepOptions, dataSource, ...(now ? { clock: now } : {}) });
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      try {
        await upkeep.close();
      } finally {
        if (dataSource.isInitialized) await dataSource.destroy();
      }
    })());
  return { upkeep, dataSource, clock, close, [Symbol.asyncDispose]: close };
}

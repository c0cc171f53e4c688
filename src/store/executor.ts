import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { UnsupportedDatabaseError } from '../core/errors';
import { dialectOf, SqlCodec, type Dialect } from './dialect';

/** Rows returned and rows changed by one statement. */
export interface ExecResult<Row = Record<string, unknown>> {
  rows: Row[];
  affected: number;
}

/** Runs upkeep's SQL: one statement at a time, or a function inside one transaction. */
export interface Executor {
  readonly dialect: Dialect;
  readonly codec: SqlCodec;
  /** Runs one statement written with `?` placeholders. */
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<ExecResult<Row>>;
  /** Runs `fn` in one transaction; nested calls join the outer one. */
  transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T>;
}

/** PostgreSQL and MySQL/MariaDB through TypeORM query runners (so replication settings hold). */
class QueryRunnerExecutor implements Executor {
  readonly codec: SqlCodec;
  constructor(
    private readonly dataSource: DataSource,
    readonly dialect: Dialect,
    private readonly runner?: QueryRunner,
  ) {
    this.codec = new SqlCodec(dialect);
  }

  async query<Row>(sql: string, params: unknown[] = []): Promise<ExecResult<Row>> {
    const runner = this.runner ?? this.dataSource.createQueryRunner('master');
    try {
      const result = await runner.query(this.codec.sql(sql), params, true);
      return { rows: (result.records ?? []) as Row[], affected: result.affected ?? 0 };
    } finally {
      if (!this.runner) await runner.release();
    }
  }

  async transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T> {
    if (this.runner) return fn(this);
    const runner = this.dataSource.createQueryRunner('master');
    await runner.connect();
    await runner.startTransaction();
    try {
      const result = await fn(new QueryRunnerExecutor(this.dataSource, this.dialect, runner));
      await runner.commitTransaction();
      return result;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }
}

interface BetterSqliteStatement {
  reader: boolean;
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): { changes: number };
}
interface BetterSqliteDatabase {
  prepare(sql: string): BetterSqliteStatement;
  readonly inTransaction: boolean;
}

/**
 * SQLite through the better-sqlite3 handle TypeORM opened. Statements are synchronous, so
 * upkeep's own work is serialised through one promise chain: a transaction is never
 * interleaved with another upkeep statement on the shared connection.
 */
class SqliteExecutor implements Executor {
  readonly dialect = 'sqlite' as const;
  readonly codec = new SqlCodec('sqlite');
  private readonly statements = new Map<string, BetterSqliteStatement>();
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly dataSource: DataSource) {}

  private get db(): BetterSqliteDatabase {
    const db = (this.dataSource.driver as unknown as { databaseConnection?: BetterSqliteDatabase }).databaseConnection;
    if (!db) throw new UnsupportedDatabaseError('The SQLite DataSource is not initialized');
    return db;
  }

  runNow<Row>(sql: string, params: unknown[]): ExecResult<Row> {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      if (this.statements.size > 500) this.statements.clear();
      this.statements.set(sql, statement);
    }
    if (statement.reader) {
      const rows = statement.all(...params) as Row[];
      return { rows, affected: rows.length };
    }
    return { rows: [], affected: statement.run(...params).changes };
  }

  private serialize<T>(fn: () => Promise<T> | T, background: boolean): Promise<T> {
    const step = async () => {
      // Background work (runners, event and metric writes) never joins a transaction the
      // host has open on this shared connection: it waits for it to end, so a host rollback
      // cannot undo upkeep's writes. Calls from the host's own code do join it (enqueueing
      // inside the host's transaction is atomic with its data).
      while (background && this.db.inTransaction) await new Promise((resolve) => setTimeout(resolve, 2));
      return fn();
    };
    const run = this.tail.then(step, step);
    this.tail = run.catch(() => undefined);
    return run;
  }

  query<Row>(sql: string, params: unknown[] = [], background = false): Promise<ExecResult<Row>> {
    return this.serialize(() => this.runNow<Row>(sql, params), background);
  }

  /** True while any transaction is open on the shared connection. */
  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  /** Statements run at once on the connection, outside the chain (inside a transaction the caller holds). */
  direct(): Executor {
    const inner: Executor = {
      dialect: 'sqlite',
      codec: this.codec,
      query: async <Row>(sql: string, params: unknown[] = []) => this.runNow<Row>(sql, params),
      transaction: (nested) => nested(inner),
    };
    return inner;
  }

  /** The same executor for background work. */
  asBackground(): Executor {
    return {
      dialect: 'sqlite',
      codec: this.codec,
      query: <Row>(sql: string, params: unknown[] = []) => this.query<Row>(sql, params, true),
      transaction: (fn) => this.transaction(fn, true),
    };
  }

  transaction<T>(fn: (tx: Executor) => Promise<T>, background = false): Promise<T> {
    return this.serialize(async () => {
      this.runNow('BEGIN IMMEDIATE', []);
      const inner: Executor = {
        dialect: 'sqlite',
        codec: this.codec,
        query: async <Row>(sql: string, params: unknown[] = []) => this.runNow<Row>(sql, params),
        transaction: (nested) => nested(inner),
      };
      try {
        const result = await fn(inner);
        this.runNow('COMMIT', []);
        return result;
      } catch (error) {
        try {
          this.runNow('ROLLBACK', []);
        } catch {
          // already rolled back by SQLite itself
        }
        throw error;
      }
    }, background);
  }
}

const executors = new WeakMap<DataSource, Executor>();

/**
 * The executor of a DataSource (one per DataSource, shared by every upkeep object on it);
 * `background` for work no host code awaits (runners, event and metric writes).
 */
export function executorFor(dataSource: DataSource, background = false): Executor {
  const executor = foregroundExecutorFor(dataSource);
  return background && executor instanceof SqliteExecutor ? executor.asBackground() : executor;
}

function foregroundExecutorFor(dataSource: DataSource): Executor {
  let executor = executors.get(dataSource);
  if (!executor) {
    const dialect = dialectOf(dataSource);
    if (dialect === 'sqlite') {
      if (dataSource.options.type !== 'better-sqlite3') {
        throw new UnsupportedDatabaseError(
          `upkeep's SQLite support uses the better-sqlite3 driver; got "${dataSource.options.type}"`,
        );
      }
      executor = new SqliteExecutor(dataSource);
    } else {
      if (dialect === 'postgres') guardPgClients(dataSource);
      executor = new QueryRunnerExecutor(dataSource, dialect);
    }
    executors.set(dataSource, executor);
  }
  return executor;
}

type PgClientLike = { on(event: 'error', listener: (error: unknown) => void): unknown };
type PgPoolLike = { on(event: 'connect', listener: (client: PgClientLike) => void): unknown; _clients?: PgClientLike[] };
const guardedPools = new WeakSet<object>();

/**
 * pg reports a backend that ends (server restart, `pg_terminate_backend`) as an 'error' event
 * on the client. pg-pool listens only while a client is idle in the pool, so one arriving
 * between hand-out and TypeORM's own listener (a fresh connection can get its FATAL in the
 * same read as ReadyForQuery) had no listener and crashed the process. Every client of the
 * pool gets a no-op listener: the query in flight still fails, and the pool drops the client.
 */
function guardPgClients(dataSource: DataSource): void {
  const pool = (dataSource.driver as unknown as { master?: PgPoolLike }).master;
  if (!pool || typeof pool.on !== 'function' || guardedPools.has(pool)) return;
  guardedPools.add(pool);
  const ignore = () => undefined;
  pool.on('connect', (client) => client.on('error', ignore));
  for (const client of pool._clients ?? []) client.on('error', ignore);
}

/** A transaction a processor writes in (`ctx.transaction`), which the task's completion then joins. */
export interface TaskTransaction {
  /** The processor's view of it. */
  readonly manager: EntityManager;
  /** Upkeep's statements inside it. */
  readonly executor: Executor;
  commit(): Promise<void>;
  /** Rolls back; never throws (a connection already gone rolled back on its own). */
  rollback(): Promise<void>;
}

/**
 * Opens a transaction on its own connection (PostgreSQL, MySQL/MariaDB), or on SQLite's shared
 * connection once no other transaction is open on it (so it never joins a host's transaction).
 */
export async function openTaskTransaction(dataSource: DataSource): Promise<TaskTransaction> {
  const dialect = dialectOf(dataSource);
  const runner = dataSource.createQueryRunner('master');
  if (dialect === 'sqlite') {
    const sqlite = foregroundExecutorFor(dataSource) as SqliteExecutor;
    for (;;) {
      while (sqlite.inTransaction) await new Promise((resolve) => setTimeout(resolve, 2));
      try {
        await runner.startTransaction();
        break;
      } catch (error) {
        // Someone began a transaction between the check and ours: wait for it too.
        if (!sqlite.inTransaction) throw error;
      }
    }
    return wrap(runner, sqlite.direct());
  }
  await runner.connect();
  await runner.startTransaction();
  return wrap(runner, new QueryRunnerExecutor(dataSource, dialect, runner));
}

function wrap(runner: QueryRunner, executor: Executor): TaskTransaction {
  let open = true;
  return {
    manager: runner.manager,
    executor,
    async commit() {
      if (!open) return;
      open = false;
      try {
        await runner.commitTransaction();
      } catch (error) {
        if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
        throw error;
      } finally {
        await runner.release().catch(() => undefined);
      }
    },
    async rollback() {
      if (!open) return;
      open = false;
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      await runner.release().catch(() => undefined);
    },
  };
}

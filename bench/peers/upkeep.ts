// upkeep itself, imported from this repository's sources (tsx compiles them on the fly),
// with the settings a new user gets: `new Upkeep({ dataSource, processors })`,
// `createRunner({ concurrency: 10 })` (10 is also the default), events persisted,
// resource tracking on. A second column may turn events off (`persistEvents: false`).
import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { MaintenanceTaskProcessor, Processor, Upkeep, UPKEEP_ENTITIES, UPKEEP_MIGRATIONS, type UpkeepSettingsInput } from '../../src/index';
import { PG, type PgProbe } from '../lib/pg';
import { MY, myAdmin } from '../lib/mysql';
import type { OnRun, QueueSubject, Worker } from '../lib/subject';
import { log } from '../lib/util';

/**
 * upkeep's warnings and errors, counted instead of printed line by line (a MariaDB run can
 * log hundreds of retried deadlocks): the first of each kind is printed, the counts go into
 * the results. Logging is not a speed setting; everything else stays default.
 */
class CountingLogger {
  counts = new Map<string, number>();
  private add(level: string, message: string) {
    const kind = `${level}: ${message.replace(/^runner \S+ /, 'runner ').replace(/[0-9a-f]{8}-[0-9a-f-]{27,}/g, '<id>').slice(0, 160)}`;
    const n = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, n);
    if (n === 1) log(`    upkeep ${kind} (first of its kind; counted from here on)`);
  }
  /** Like the default logger (`consoleLogger('warn')`): debug and info lines are not wanted, so they are not built. */
  isLevelEnabled(level: string): boolean {
    return level === 'warn' || level === 'error';
  }
  debug(): void {}
  info(): void {}
  warn(message: string): void {
    this.add('warn', message);
  }
  error(message: string): void {
    this.add('error', message);
  }
  child(): CountingLogger {
    return this;
  }
  take(): Record<string, number> {
    const out = Object.fromEntries(this.counts);
    this.counts.clear();
    return out;
  }
}

let onRun: OnRun = () => {};

@Processor('bench-noop')
export class NoopProcessor extends MaintenanceTaskProcessor<null> {
  process(): null {
    onRun();
    return null;
  }
}

export type Dialect = 'postgres' | 'mariadb' | 'sqlite';

export interface UpkeepSubjectOptions {
  name: string;
  dialect: Dialect;
  /** Settings given to `new Upkeep` (none: the defaults). */
  settings?: UpkeepSettingsInput;
  /** PostgreSQL: the bench database and its probe connection. */
  pgDatabase?: string;
  probe?: PgProbe;
  /** MariaDB: database name prefix of this run. */
  myPrefix?: string;
}

export class UpkeepSubject implements QueueSubject {
  readonly name: string;
  readonly config: Record<string, unknown>;
  private dataSource?: DataSource;
  private upkeep?: Upkeep;
  private schema = '';
  private sqliteDir?: string;
  private readonly logger = new CountingLogger();

  constructor(private readonly options: UpkeepSubjectOptions) {
    this.name = options.name;
    this.config = {
      library: 'upkeep (this repository, src/ through tsx)',
      settings: options.settings ?? 'defaults',
      runner: { concurrency: 10 },
      dataSource: options.dialect === 'sqlite' ? 'better-sqlite3 file, TypeORM defaults' : 'TypeORM defaults (pool of 10)',
    };
  }

  async setup(round: number): Promise<void> {
    const { dialect } = this.options;
    let ds: DataSourceOptions;
    const common = { entities: [...UPKEEP_ENTITIES], migrations: [...UPKEEP_MIGRATIONS], migrationsRun: true, logging: false };
    if (dialect === 'postgres') {
      this.schema = `r${round}_${this.name.replace(/\W+/g, '_')}`;
      await this.options.probe!.freshSchema(this.schema);
      // Fresh schema per round: every connection of the pool gets it as its search_path.
      ds = { type: 'postgres', host: PG.host, port: PG.port, username: PG.user, password: PG.password, database: this.options.pgDatabase!, extra: { options: `-c search_path=${this.schema}` }, ...common };
    } else if (dialect === 'mariadb') {
      this.schema = `${this.options.myPrefix}_r${round}_${this.name.replace(/\W+/g, '_')}`;
      await myAdmin(`DROP DATABASE IF EXISTS ${this.schema}`, `CREATE DATABASE ${this.schema}`);
      ds = { type: 'mariadb', host: MY.host, port: MY.port, username: MY.user, password: MY.password, database: this.schema, ...common };
    } else {
      this.sqliteDir = mkdtempSync(join(tmpdir(), 'upkeep-bench-'));
      ds = { type: 'better-sqlite3', database: join(this.sqliteDir, `r${round}.db`), ...common };
    }
    this.dataSource = new DataSource(ds);
    await this.dataSource.initialize();
    this.upkeep = new Upkeep({ dataSource: this.dataSource, processors: [NoopProcessor], logger: this.logger, ...(this.options.settings ? { settings: this.options.settings } : {}) });
  }

  async addOne(): Promise<void> {
    await this.upkeep!.createTask(NoopProcessor.create({}));
  }

  async addBatches(count: number, batch: number): Promise<void> {
    for (let i = 0; i < count; i += batch) {
      const n = Math.min(batch, count - i);
      await this.upkeep!.createTasks(Array.from({ length: n }, () => ({ processor: NoopProcessor.create({}) })));
    }
  }

  async startWorker(run: OnRun): Promise<Worker> {
    onRun = run;
    const runner = this.upkeep!.createRunner({ concurrency: 10 });
    await runner.start();
    return {
      stop: async () => {
        await runner.stop();
        onRun = () => {};
      },
    };
  }

  async countDone(): Promise<number> {
    if (this.options.dialect === 'postgres') return this.options.probe!.count(`SELECT count(*) AS n FROM ${this.schema}.maintenance_tasks WHERE status = 'COMPLETED'`);
    const rows: Array<{ n: number | string }> = await this.dataSource!.query(`SELECT COUNT(*) AS n FROM maintenance_tasks WHERE status = 'COMPLETED'`);
    return Number(rows[0]!.n);
  }

  async discardPending(): Promise<number> {
    if (this.options.dialect === 'postgres') return this.options.probe!.count(`WITH d AS (DELETE FROM ${this.schema}.maintenance_tasks WHERE status = 'PENDING' RETURNING 1) SELECT count(*) AS n FROM d`);
    const before = await this.dataSource!.query(`SELECT COUNT(*) AS n FROM maintenance_tasks WHERE status = 'PENDING'`);
    await this.dataSource!.query(`DELETE FROM maintenance_tasks WHERE status = 'PENDING'`);
    return Number((before as Array<{ n: number | string }>)[0]!.n);
  }

  /** The Upkeep of the current round (for scripts that use more of its API, e.g. bench/admin.ts). */
  upkeepInstance(): Upkeep {
    if (!this.upkeep) throw new Error('setup() first');
    return this.upkeep;
  }

  takeLogCounts(): Record<string, number> {
    return this.logger.take();
  }

  async teardown(): Promise<void> {
    await this.upkeep?.close();
    await this.dataSource?.destroy();
    this.upkeep = undefined;
    this.dataSource = undefined;
    if (this.options.dialect === 'postgres') await this.options.probe!.dropSchema(this.schema);
    if (this.options.dialect === 'mariadb') await myAdmin(`DROP DATABASE IF EXISTS ${this.schema}`);
    if (this.sqliteDir) rmSync(this.sqliteDir, { recursive: true, force: true });
    this.sqliteDir = undefined;
  }
}

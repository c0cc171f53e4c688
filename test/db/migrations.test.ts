import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { MaintenanceTaskProcessor, Processor, Upkeep, UPKEEP_MIGRATIONS } from '../../src';
import { createTestDatabase, databaseProblem, TEST_DB, type TestDatabase, dbDate } from '../helpers/db';
import { IsInt } from 'class-validator';

const problem = await databaseProblem();

const UPKEEP_TABLES = ['maintenance_task_dependencies', 'maintenance_tasks', 'task_events', 'task_metrics', 'upkeep_runners'];

/** Every column DESIGN.md §3 and the seeds name, by table (progress is stored as done/total). */
const REQUIRED_COLUMNS: Record<string, string[]> = {
  maintenance_tasks: [
    // first seed
    'id', 'status', 'processor_type', 'processor_json', 'delay', 'info', 'created_at', 'updated_at',
    // second seed
    'estimated_memory_mb', 'actual_memory_mb', 'assigned_device', 'service_instance_id', 'resource_cleanup_completed',
    // what the runner needs
    'start_at', 'priority', 'attempts', 'max_attempts', 'failure_reason', 'last_error', 'locked_by', 'lease_expires_at',
    'started_at', 'finished_at', 'progress_done', 'progress_total', 'cursor', 'unique_key', 'version',
  ],
  task_metrics: ['id', 'task_id', 'timestamp', 'memory_usage_mb', 'device', 'processing_stage'],
  task_events: ['id', 'task_id', 'event_type', 'timestamp', 'details'],
  maintenance_task_dependencies: ['task_id', 'depends_on_id'],
};

/** Seed columns that must accept NULL (a task without resource tracking has none of them). */
const NULLABLE = ['estimated_memory_mb', 'actual_memory_mb', 'assigned_device', 'service_instance_id', 'info', 'unique_key', 'locked_by', 'lease_expires_at'];

interface ColumnInfo {
  type: string;
  nullable: boolean;
  defaultValue: string | null;
}
interface IndexInfo {
  table: string;
  columns: string[];
  unique: boolean;
}
interface Schema {
  tables: Map<string, Map<string, ColumnInfo>>;
  indexes: Map<string, IndexInfo>;
}

/** Reads tables, columns and indexes from the database's own catalogue. */
async function readSchema(ds: DataSource): Promise<Schema> {
  const tables = new Map<string, Map<string, ColumnInfo>>();
  const indexes = new Map<string, IndexInfo>();
  const column = (table: string, name: string, info: ColumnInfo) => {
    if (!tables.has(table)) tables.set(table, new Map());
    tables.get(table)!.set(name, info);
  };
  if (TEST_DB === 'sqlite') {
    const names: Array<{ name: string }> = await ds.query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`);
    for (const { name } of names) {
      tables.set(name, new Map());
      const cols: Array<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number }> = await ds.query(`PRAGMA table_info("${name}")`);
      for (const c of cols) column(name, c.name, { type: c.type.toLowerCase(), nullable: c.notnull === 0 && c.pk === 0, defaultValue: c.dflt_value });
      const list: Array<{ name: string; unique: number; origin: string }> = await ds.query(`PRAGMA index_list("${name}")`);
      for (const index of list) {
        const info: Array<{ seqno: number; name: string }> = await ds.query(`PRAGMA index_info("${index.name}")`);
        indexes.set(index.name, { table: name, unique: index.unique === 1, columns: info.sort((a, b) => a.seqno - b.seqno).map((i) => i.name) });
      }
    }
  } else if (TEST_DB === 'postgres') {
    const cols: Array<{ table_name: string; column_name: string; data_type: string; is_nullable: string; column_default: string | null }> = await ds.query(
      `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns WHERE table_schema = current_schema()`,
    );
    for (const c of cols) column(c.table_name, c.column_name, { type: c.data_type.toLowerCase(), nullable: c.is_nullable === 'YES', defaultValue: c.column_default });
    const idx: Array<{ index_name: string; table_name: string; is_unique: boolean; columns: string[] | string }> = await ds.query(
      `SELECT i.relname AS index_name, t.relname AS table_name, ix.indisunique AS is_unique,
              array_agg(a.attname ORDER BY k.ord) AS columns
         FROM pg_index ix
         JOIN pg_class i ON i.oid = ix.indexrelid
         JOIN pg_class t ON t.oid = ix.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
        WHERE n.nspname = current_schema()
        GROUP BY i.relname, t.relname, ix.indisunique`,
    );
    for (const i of idx) {
      const columns = Array.isArray(i.columns) ? i.columns : i.columns.replace(/^\{|\}$/g, '').split(',');
      indexes.set(i.index_name, { table: i.table_name, unique: i.is_unique, columns });
    }
  } else {
    const cols: Array<{ table_name: string; column_name: string; data_type: string; is_nullable: string; column_default: string | null }> = await ds.query(
      `SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name, DATA_TYPE AS data_type, IS_NULLABLE AS is_nullable, COLUMN_DEFAULT AS column_default
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()`,
    );
    for (const c of cols) column(c.table_name, c.column_name, { type: c.data_type.toLowerCase(), nullable: c.is_nullable === 'YES', defaultValue: c.column_default });
    const idx: Array<{ index_name: string; table_name: string; non_unique: number | string; column_name: string; seq: number }> = await ds.query(
      `SELECT INDEX_NAME AS index_name, TABLE_NAME AS table_name, NON_UNIQUE AS non_unique, COLUMN_NAME AS column_name, SEQ_IN_INDEX AS seq
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`,
    );
    for (const i of idx) {
      const existing = indexes.get(i.index_name) ?? { table: i.table_name, unique: Number(i.non_unique) === 0, columns: [] };
      existing.columns.push(i.column_name);
      indexes.set(i.index_name, existing);
    }
  }
  return { tables, indexes };
}

/** Tables, columns and indexes of upkeep as plain sorted data, to compare two schemas. */
const snapshot = (schema: Schema) => ({
  tables: Object.fromEntries(
    [...schema.tables].filter(([t]) => UPKEEP_TABLES.includes(t)).sort(([a], [b]) => a.localeCompare(b)).map(([t, cols]) => [t, Object.fromEntries([...cols].sort(([a], [b]) => a.localeCompare(b)))]),
  ),
  indexes: Object.fromEntries([...schema.indexes].filter(([, i]) => UPKEEP_TABLES.includes(i.table)).sort(([a], [b]) => a.localeCompare(b))),
});

const upkeepTablesIn = (schema: Schema) => [...schema.tables.keys()].filter((t) => UPKEEP_TABLES.includes(t)).sort();

/** `?` placeholders, rewritten for PostgreSQL. */
const sql = (text: string) => {
  let n = 0;
  return TEST_DB === 'postgres' ? text.replace(/\?/g, () => `$${++n}`) : text;
};

@Processor('migrations-smoke')
class SmokeProcessor extends MaintenanceTaskProcessor<{ doubled: number }> {
  @IsInt()
  n!: number;

  process() {
    return { doubled: this.n * 2 };
  }
}

describe.skipIf(problem)(`UPKEEP_MIGRATIONS on ${TEST_DB}`, () => {
  let database: TestDatabase;
  let ds: DataSource;
  let firstSchema: unknown;

  beforeAll(async () => {
    database = await createTestDatabase();
    ds = new DataSource({ ...database.options, migrationsRun: false, synchronize: false } as DataSourceOptions);
    await ds.initialize();
  });
  afterAll(async () => {
    if (ds?.isInitialized) await ds.destroy();
    await database?.drop();
  });

  it('starts from an empty database', async () => {
    expect(upkeepTablesIn(await readSchema(ds))).toEqual([]);
    expect(await ds.showMigrations()).toBe(true);
  });

  it('runs from empty and records every migration', async () => {
    const ran = await ds.runMigrations({ transaction: 'each' });
    expect(ran.map((m) => m.name)).toEqual(UPKEEP_MIGRATIONS.map((m) => new m().name));
    expect(await ds.showMigrations()).toBe(false);
    // Running again is a no-op.
    expect(await ds.runMigrations()).toEqual([]);
  });

  it('creates the four tables with every column of DESIGN.md §3 and the seeds', async () => {
    const schema = await readSchema(ds);
    firstSchema = snapshot(schema);
    expect(upkeepTablesIn(schema)).toEqual(UPKEEP_TABLES);
    for (const [table, columns] of Object.entries(REQUIRED_COLUMNS)) {
      const actual = [...schema.tables.get(table)!.keys()];
      const missing = columns.filter((c) => !actual.includes(c));
      expect(missing, `${table} lacks columns`).toEqual([]);
    }
    const tasks = schema.tables.get('maintenance_tasks')!;
    for (const name of NULLABLE) expect(tasks.get(name)!.nullable, `maintenance_tasks.${name} nullable`).toBe(true);
    for (const name of ['id', 'status', 'processor_type', 'processor_json', 'created_at', 'updated_at', 'start_at', 'resource_cleanup_completed']) {
      expect(tasks.get(name)!.nullable, `maintenance_tasks.${name} NOT NULL`).toBe(false);
    }
    expect(tasks.get('resource_cleanup_completed')!.defaultValue).toMatch(/false|0/i);
    expect(schema.tables.get('task_metrics')!.get('task_id')!.nullable).toBe(false);
  });

  it('uses the dialect types the design names (JSONB on PostgreSQL, time zones kept)', async () => {
    const schema = await readSchema(ds);
    const type = (table: string, col: string) => schema.tables.get(table)!.get(col)!.type;
    if (TEST_DB === 'postgres') {
      expect(type('task_events', 'details')).toBe('jsonb');
      expect(type('maintenance_tasks', 'info')).toBe('jsonb');
      expect(type('maintenance_tasks', 'resource_cleanup_completed')).toBe('boolean');
      for (const col of ['created_at', 'updated_at', 'start_at', 'lease_expires_at', 'started_at', 'finished_at']) {
        expect(type('maintenance_tasks', col)).toBe('timestamp with time zone');
      }
    } else if (TEST_DB === 'mariadb') {
      // MariaDB's JSON is an alias of LONGTEXT with a json_valid check.
      expect(['json', 'longtext']).toContain(type('task_events', 'details'));
      expect(type('maintenance_tasks', 'processor_json')).toBe('longtext');
      expect(type('maintenance_tasks', 'created_at')).toBe('datetime');
    } else {
      expect(type('task_events', 'details')).toBe('json');
      expect(type('maintenance_tasks', 'created_at')).toBe('datetime');
    }
    expect(['integer', 'int']).toContain(type('maintenance_tasks', 'priority'));
  });

  it('creates the indexes the claim, lease rescue and listings need', async () => {
    const { indexes } = await readSchema(ds);
    // The claim filters on status and orders by priority then start_at: on PostgreSQL and SQLite
    // the index is partial (WHERE status = 'PENDING') and starts with the order; MySQL has no
    // partial indexes, so status leads there. Trailing tie-breaker columns are fine.
    const partial = TEST_DB !== 'mariadb';
    const claim = indexes.get('idx_upkeep_tasks_claim');
    expect(claim).toMatchObject({ table: 'maintenance_tasks', unique: false });
    expect(claim!.columns.slice(0, partial ? 2 : 3)).toEqual(partial ? ['priority', 'start_at'] : ['status', 'priority', 'start_at']);
    expect(indexes.get('idx_upkeep_tasks_lease')).toEqual({
      table: 'maintenance_tasks',
      unique: false,
      columns: partial ? ['lease_expires_at'] : ['status', 'lease_expires_at'],
    });
    expect(indexes.get('idx_upkeep_tasks_locked_by')).toMatchObject({ table: 'maintenance_tasks', columns: ['locked_by'] });
    expect(indexes.get('uq_upkeep_tasks_unique_key')).toEqual({ table: 'maintenance_tasks', unique: true, columns: ['unique_key'] });
    expect(indexes.get('idx_upkeep_dep_depends_on')).toMatchObject({ table: 'maintenance_task_dependencies', columns: ['depends_on_id'] });
    expect(indexes.get('idx_upkeep_metrics_task')).toMatchObject({ table: 'task_metrics', columns: ['task_id', 'timestamp'] });
    expect(indexes.get('idx_upkeep_events_task')).toMatchObject({ table: 'task_events', columns: ['task_id', 'timestamp'] });
  });

  it('matches the entities: TypeORM finds nothing to change (host synchronize or migration:generate leave upkeep alone)', async () => {
    const { upQueries } = await ds.driver.createSchemaBuilder().log();
    expect(upQueries.map((q) => q.query)).toEqual([]);
  });

  it('enforces the seed\'s foreign keys and the unique key', async () => {
    const now = new Date();
    const ts = dbDate(now);
    const insertTask = (id: string, uniqueKey: string | null) =>
      ds.query(
        sql(`INSERT INTO maintenance_tasks (id, status, processor_type, processor_json, created_at, updated_at, start_at, unique_key) VALUES (?, 'PENDING', 'x', '{}', ?, ?, ?, ?)`),
        [id, ts, ts, ts, uniqueKey],
      );
    await insertTask('00000000-0000-4000-8000-000000000001', 'k1');
    await expect(insertTask('00000000-0000-4000-8000-000000000002', 'k1')).rejects.toThrow();
    // Many NULL unique keys are fine.
    await insertTask('00000000-0000-4000-8000-000000000003', null);
    await insertTask('00000000-0000-4000-8000-000000000004', null);
    await expect(
      ds.query(sql(`INSERT INTO task_metrics (task_id, ${ds.driver.escape('timestamp')}, memory_usage_mb) VALUES (?, ?, 1)`), ['no-such-task', ts]),
    ).rejects.toThrow();
    await expect(
      ds.query(sql(`INSERT INTO task_events (task_id, event_type, ${ds.driver.escape('timestamp')}) VALUES (?, 'created', ?)`), ['no-such-task', ts]),
    ).rejects.toThrow();
    // Deleting a task takes its metrics and events with it.
    await ds.query(sql(`INSERT INTO task_metrics (task_id, ${ds.driver.escape('timestamp')}, memory_usage_mb) VALUES (?, ?, 1)`), ['00000000-0000-4000-8000-000000000001', ts]);
    await ds.query(sql(`INSERT INTO task_events (task_id, event_type, ${ds.driver.escape('timestamp')}, details) VALUES (?, 'created', ?, ?)`), ['00000000-0000-4000-8000-000000000001', ts, '{"a":1}']);
    await ds.query(sql(`DELETE FROM maintenance_tasks WHERE id = ?`), ['00000000-0000-4000-8000-000000000001']);
    const [{ n: metrics }] = await ds.query(`SELECT COUNT(*) AS n FROM task_metrics`);
    const [{ n: events }] = await ds.query(`SELECT COUNT(*) AS n FROM task_events`);
    expect(Number(metrics)).toBe(0);
    expect(Number(events)).toBe(0);
  });

  it('the migrated schema works with the library end to end', async () => {
    const upkeep = new Upkeep({ dataSource: ds, processors: [SmokeProcessor] });
    try {
      const first = await upkeep.createTask(SmokeProcessor.create({ n: 21 }));
      const second = await upkeep.createTask(SmokeProcessor.create({ n: 1 }), { dependsOn: [first], uniqueKey: 'smoke-2' });
      await upkeep.runDue();
      expect((await upkeep.getTask(first.id))!.info).toEqual({ doubled: 42 });
      expect((await upkeep.getTask(second.id))!.status).toBe('COMPLETED');
    } finally {
      await upkeep.close();
    }
  });

  it('reverts cleanly, with rows in every table, leaving no upkeep table, index or migration record', async () => {
    // Rows everywhere, including a dependency, so the drop order must respect the foreign keys.
    const [{ n: before }] = await ds.query(`SELECT COUNT(*) AS n FROM maintenance_task_dependencies`);
    expect(Number(before)).toBeGreaterThan(0);
    for (let i = UPKEEP_MIGRATIONS.length; i > 0; i--) await ds.undoLastMigration({ transaction: 'each' });
    const schema = await readSchema(ds);
    expect(upkeepTablesIn(schema)).toEqual([]);
    expect([...schema.indexes.keys()].filter((name) => /upkeep/.test(name))).toEqual([]);
    const [{ n }] = await ds.query(`SELECT COUNT(*) AS n FROM ${ds.driver.escape('migrations')}`);
    expect(Number(n)).toBe(0);
    expect(await ds.showMigrations()).toBe(true);
  });

  it('runs again after the revert and the schema is the same as the first time', async () => {
    const ran = await ds.runMigrations();
    expect(ran).toHaveLength(UPKEEP_MIGRATIONS.length);
    const schema = await readSchema(ds);
    expect(upkeepTablesIn(schema)).toEqual(UPKEEP_TABLES);
    expect(firstSchema).toBeDefined();
    expect(snapshot(schema)).toEqual(firstSchema);
    const [{ n }] = await ds.query(`SELECT COUNT(*) AS n FROM maintenance_tasks`);
    expect(Number(n)).toBe(0);
    const upkeep = new Upkeep({ dataSource: ds, processors: [SmokeProcessor] });
    try {
      const task = await upkeep.createTask(SmokeProcessor.create({ n: 2 }));
      await upkeep.runDue();
      expect((await upkeep.getTask(task.id))!.status).toBe('COMPLETED');
    } finally {
      await upkeep.close();
    }
  });

  it('a second revert and rerun cycle also works (down is repeatable)', async () => {
    // Undone newest first: down to the runner registry's migration, whose table goes, the rest stay.
    const runners = UPKEEP_MIGRATIONS.findIndex((m) => m.name === 'UpkeepRunners1764400000000');
    for (let i = UPKEEP_MIGRATIONS.length; i > runners; i--) await ds.undoLastMigration();
    expect(upkeepTablesIn(await readSchema(ds))).toEqual(UPKEEP_TABLES.filter((t) => t !== 'upkeep_runners'));
    for (let i = runners; i > 0; i--) await ds.undoLastMigration();
    expect(upkeepTablesIn(await readSchema(ds))).toEqual([]);
    await ds.runMigrations();
    expect(upkeepTablesIn(await readSchema(ds))).toEqual(UPKEEP_TABLES);
  });
});

describe.skipIf(problem)(`UpkeepRunnerInfo1764900000000 moves existing rows, on ${TEST_DB}`, () => {
  let database: TestDatabase;
  let ds: DataSource;
  const older = UPKEEP_MIGRATIONS.filter((m) => m.name !== 'UpkeepRunnerInfo1764900000000');
  const id = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;
  const attempt = (n: number, reason = 'processor_error') => ({ attempt: n, at: '2026-12-01T00:00:00.000Z', reason, message: `attempt ${n} fails` });
  // Rows as the runner wrote them before runner_info: outcome and the runner's own notes together in info.
  const OLD_ROWS: Array<{ n: number; status: string; attempts: number; info: unknown; lastError?: string }> = [
    { n: 1, status: 'COMPLETED', attempts: 2, info: { result: { processed: true }, attempts: [attempt(1)] } },
    { n: 2, status: 'COMPLETED', attempts: 1, info: { result: 42 } },
    { n: 3, status: 'COMPLETED', attempts: 1, info: { result: null } },
    {
      n: 4,
      status: 'ERROR',
      attempts: 2,
      info: { error: { name: 'Error', message: 'Test error', stack: 'Error: Test error\n    at run (job.js:1:1)', attempt: 2 }, attempts: [attempt(1), attempt(2)] },
      lastError: 'Test error',
    },
    { n: 5, status: 'CANCELLED', attempts: 0, info: { error: { name: 'TaskCancelledError', message: 'Cancelled by an admin', code: 'CANCELLED' } } },
    { n: 6, status: 'PENDING', attempts: 0, info: { placement: { device: 'cuda:0', reason: 'processor_preference' } } },
    {
      n: 7,
      status: 'PENDING',
      attempts: 1,
      info: {
        error: { name: 'RangeError', message: 'CUDA out of memory', attempt: 1 },
        attempts: [attempt(1, 'out_of_memory')],
        placement: { device: 'cpu', reason: 'oom_cpu_fallback' },
        oom: { batchFactor: 0.5, memory: { freeMb: 10 } },
      },
    },
    { n: 8, status: 'PENDING', attempts: 0, info: null },
    { n: 9, status: 'COMPLETED', attempts: 1, info: { result: {} } },
  ];

  const open = async (migrations: DataSourceOptions['migrations']) => {
    const source = new DataSource({ ...database.options, migrations, migrationsRun: false, synchronize: false } as DataSourceOptions);
    await source.initialize();
    return source;
  };
  const readRaw = async (n: number) => {
    const [row] = await ds.query(sql(`SELECT info, last_error FROM maintenance_tasks WHERE id = ?`), [id(n)]);
    return { info: typeof row.info === 'string' ? JSON.parse(row.info) : row.info, lastError: row.last_error as string | null };
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    ds = await open(older);
    await ds.runMigrations({ transaction: 'each' });
    const ts = dbDate(new Date());
    for (const row of OLD_ROWS) {
      await ds.query(
        sql(`INSERT INTO maintenance_tasks (id, status, processor_type, processor_json, created_at, updated_at, start_at, attempts, info, last_error) VALUES (?, ?, 'old', '{}', ?, ?, ?, ?, ?, ?)`),
        [id(row.n), row.status, ts, ts, ts, row.attempts, row.info === null ? null : JSON.stringify(row.info), row.lastError ?? null],
      );
    }
    await ds.destroy();
    ds = await open([...UPKEEP_MIGRATIONS]);
  });
  afterAll(async () => {
    if (ds?.isInitialized) await ds.destroy();
    await database?.drop();
  });

  it('up: outcomes in info as the seed has them, the runner notes in runner_info, the stack in last_error', async () => {
    const ran = await ds.runMigrations({ transaction: 'each' });
    expect(ran.map((m) => m.name)).toEqual(['UpkeepRunnerInfo1764900000000']);
    const upkeep = new Upkeep({ dataSource: ds, processors: [] });
    try {
      const task = async (n: number) => (await upkeep.getTask(id(n)))!;
      expect(await task(1)).toMatchObject({ info: { processed: true }, runnerInfo: { attempts: [attempt(1)] } });
      expect(await task(2)).toMatchObject({ info: { result: 42 }, runnerInfo: null });
      expect(await task(3)).toMatchObject({ info: null, runnerInfo: null });
      const failed = await task(4);
      expect(failed.info).toEqual({ error: 'Test error', errorName: 'Error', attempt: 2 });
      expect(failed.runnerInfo).toEqual({ attempts: [attempt(1), attempt(2)] });
      expect(failed.lastError).toBe('Test error\n    at run (job.js:1:1)');
      expect((await task(5)).info).toEqual({ error: 'Cancelled by an admin', errorName: 'TaskCancelledError', errorCode: 'CANCELLED', attempt: 0 });
      expect(await task(6)).toMatchObject({ info: null, runnerInfo: { placement: { device: 'cuda:0', reason: 'processor_preference' } } });
      const oom = await task(7);
      expect(oom.info).toEqual({ error: 'CUDA out of memory', errorName: 'RangeError', attempt: 1 });
      expect(oom.runnerInfo).toEqual({ attempts: [attempt(1, 'out_of_memory')], placement: { device: 'cpu', reason: 'oom_cpu_fallback' }, oom: { batchFactor: 0.5, memory: { freeMb: 10 } } });
      expect(await task(8)).toMatchObject({ info: null, runnerInfo: null });
      expect(await task(9)).toMatchObject({ info: {}, runnerInfo: null }); // a returned {} stays {}, as the runner stores it
    } finally {
      await upkeep.close();
    }
  });

  it('down: the old shape back in info (the stack stays in last_error), runner_info dropped', async () => {
    await ds.undoLastMigration({ transaction: 'each' });
    const columns: string[] =
      TEST_DB === 'sqlite'
        ? (await ds.query(`PRAGMA table_info("maintenance_tasks")`)).map((c: { name: string }) => c.name)
        : (await ds.query(sql(`SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'maintenance_tasks' AND table_schema = ${TEST_DB === 'postgres' ? 'current_schema()' : 'DATABASE()'}`))).map((c: { name: string }) => c.name);
    expect(columns).not.toContain('runner_info');
    expect((await readRaw(1)).info).toEqual({ attempts: [attempt(1)], result: { processed: true } });
    expect((await readRaw(2)).info).toEqual({ result: 42 });
    expect((await readRaw(3)).info).toEqual({ result: null });
    expect((await readRaw(4)).info).toEqual({ attempts: [attempt(1), attempt(2)], error: { name: 'Error', message: 'Test error', attempt: 2 } });
    expect((await readRaw(5)).info).toEqual({ error: { name: 'TaskCancelledError', message: 'Cancelled by an admin', code: 'CANCELLED', attempt: 0 } });
    expect((await readRaw(6)).info).toEqual({ placement: { device: 'cuda:0', reason: 'processor_preference' } });
    expect((await readRaw(7)).info).toEqual(OLD_ROWS[6]!.info && { ...(OLD_ROWS[6]!.info as object), error: { name: 'RangeError', message: 'CUDA out of memory', attempt: 1 } });
    expect((await readRaw(8)).info).toBeNull();
    expect((await readRaw(9)).info).toEqual({ result: {} });
    // Up again: the same rows as the first time.
    await ds.runMigrations({ transaction: 'each' });
    const upkeep = new Upkeep({ dataSource: ds, processors: [] });
    try {
      expect((await upkeep.getTask(id(1)))!).toMatchObject({ info: { processed: true }, runnerInfo: { attempts: [attempt(1)] } });
      expect((await upkeep.getTask(id(4)))!.info).toEqual({ error: 'Test error', errorName: 'Error', attempt: 2 });
    } finally {
      await upkeep.close();
    }
  });
});

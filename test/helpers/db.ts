import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { UPKEEP_ENTITIES, UPKEEP_MIGRATIONS } from '../../src';

/** Backend a database test runs against (set by the vitest project). */
export type TestDb = 'sqlite' | 'postgres' | 'mariadb';

export const TEST_DB: TestDb = (process.env.UPKEEP_TEST_DB as TestDb) || 'sqlite';

const PG = { host: '127.0.0.1', port: 5432, username: process.env.PGUSER || 'postgres', password: process.env.PGPASSWORD || '' };
const MARIA = { host: '127.0.0.1', port: 3306, username: 'root', password: '' };

const START_HINT: Record<TestDb, string> = {
  sqlite: '',
  postgres: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
  mariadb: 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd',
};

async function adminQuery(db: TestDb, sql: string): Promise<void> {
  if (db === 'postgres') {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ host: PG.host, port: PG.port, user: PG.username, password: PG.password, database: 'test', connectionTimeoutMillis: 3000 });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  } else if (db === 'mariadb') {
    const mysql = await import('mysql2/promise');
    const conn = await mysql.createConnection({ host: MARIA.host, port: MARIA.port, user: MARIA.username, password: MARIA.password, connectTimeout: 3000 });
    try {
      await conn.query(sql);
    } finally {
      await conn.end();
    }
  }
}

const availability = new Map<TestDb, Promise<string | null>>();

/**
 * Null when the test database is reachable, else why not. Under CI=true an unreachable
 * database throws: a database test never skips there.
 */
export function databaseProblem(db: TestDb = TEST_DB): Promise<string | null> {
  const known = availability.get(db);
  if (known) return known;
  const check = (async () => {
    if (db === 'sqlite') return null;
    try {
      await adminQuery(db, 'SELECT 1');
      return null;
    } catch (error) {
      const message = `${db} is not reachable on 127.0.0.1 (${(error as Error).message}). Start it with: ${START_HINT[db]}`;
      if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`[CI] ${message}`);
      // eslint-disable-next-line no-console
      console.warn(`\n${'!'.repeat(80)}\n!! SKIPPING ${db} tests: ${message}\n${'!'.repeat(80)}\n`);
      return message;
    }
  })();
  availability.set(db, check);
  return check;
}

/** A fresh, empty database of the current backend; `options` connects to it. */
export interface TestDatabase {
  db: TestDb;
  options: DataSourceOptions;
  drop(): Promise<void>;
}

/** Creates an empty database (PostgreSQL/MariaDB) or SQLite file for one test file. */
export async function createTestDatabase(db: TestDb = TEST_DB, extra: Partial<DataSourceOptions> = {}): Promise<TestDatabase> {
  const name = `upkeep_t_${randomBytes(5).toString('hex')}`;
  const base = { entities: [...UPKEEP_ENTITIES], migrations: [...UPKEEP_MIGRATIONS], logging: false };
  if (db === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'upkeep-test-'));
    return {
      db,
      options: { type: 'better-sqlite3', database: join(dir, 'test.db'), ...base, ...extra } as DataSourceOptions,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  if (db === 'postgres') {
    await adminQuery(db, `CREATE DATABASE ${name}`);
    return {
      db,
      options: { type: 'postgres', ...PG, database: name, ...base, ...extra } as DataSourceOptions,
      drop: () => adminQuery(db, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    };
  }
  await adminQuery(db, `CREATE DATABASE ${name}`);
  return {
    db,
    options: { type: 'mariadb', ...MARIA, database: name, ...base, ...extra } as DataSourceOptions,
    drop: () => adminQuery(db, `DROP DATABASE IF EXISTS ${name}`),
  };
}

/** A migrated, initialized DataSource on a fresh database, and its teardown. */
export async function openTestDataSource(extra: Partial<DataSourceOptions> = {}): Promise<{ dataSource: DataSource; database: TestDatabase; close(): Promise<void> }> {
  const database = await createTestDatabase(TEST_DB, extra);
  const dataSource = new DataSource({ ...database.options, migrationsRun: true } as DataSourceOptions);
  await dataSource.initialize();
  return {
    dataSource,
    database,
    close: async () => {
      if (dataSource.isInitialized) await dataSource.destroy();
      await database.drop();
    },
  };
}

/** Polls `fn` until it returns truthy or `timeoutMs` passes. */
export async function waitFor<T>(fn: () => Promise<T> | T, timeoutMs = 10_000, everyMs = 20): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value as NonNullable<T>;
    if (Date.now() > until) throw new Error(`waitFor: condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A Date as a parameter of a raw query on the current backend (SQLite stores UTC text). */
export function dbDate(date: Date): Date | string {
  return TEST_DB === 'sqlite' ? date.toISOString().replace('T', ' ').replace('Z', '') : date;
}

// The raw-SQL ceiling: a minimal table, workers that claim 200 rows at a time with
// FOR UPDATE SKIP LOCKED and mark them done with one batch UPDATE per 200. No queue
// library does less per task than this, so it is the throughput the database allows.
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MY, myAdmin } from '../lib/mysql';
import { PG } from '../lib/pg';

export const RAW_CONFIG = { workers: 10, claimBatch: 200, table: 'id, status, payload, updated_at', claim: 'FOR UPDATE SKIP LOCKED (SQLite: UPDATE ... RETURNING, one connection)' };
const CLAIM = 200;
const WORKERS = 10;

export interface RawResult {
  tasks: number;
  ms: number;
  rate: number;
  /** MariaDB: deadlocks retried. */
  deadlocks?: number;
}

/** PostgreSQL: one claim statement (UPDATE ... WHERE id IN (SELECT ... SKIP LOCKED) RETURNING) and one done statement per 200. */
export async function rawPostgres(database: string, schema: string, tasks: number): Promise<RawResult> {
  const pool = new pg.Pool({ ...PG, database, max: WORKERS, options: `-c search_path=${schema}` });
  try {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.query(`CREATE SCHEMA ${schema}`);
    await pool.query(`CREATE TABLE ${schema}.jobs (id bigserial PRIMARY KEY, status smallint NOT NULL DEFAULT 0, payload jsonb NOT NULL DEFAULT '{}', updated_at timestamptz NOT NULL DEFAULT now())`);
    await pool.query(`CREATE INDEX jobs_pending ON ${schema}.jobs (id) WHERE status = 0`);
    await pool.query(`INSERT INTO ${schema}.jobs (status) SELECT 0 FROM generate_series(1, $1)`, [tasks]);
    await pool.query(`ANALYZE ${schema}.jobs`);
    const t0 = performance.now();
    let done = 0;
    const worker = async () => {
      const client = await pool.connect();
      try {
        for (;;) {
          const claimed = await client.query<{ id: string }>(
            `UPDATE ${schema}.jobs SET status = 1, updated_at = now() WHERE id IN (SELECT id FROM ${schema}.jobs WHERE status = 0 ORDER BY id LIMIT ${CLAIM} FOR UPDATE SKIP LOCKED) RETURNING id`,
          );
          if (claimed.rows.length === 0) return;
          const ids = claimed.rows.map((r) => r.id);
          await client.query(`UPDATE ${schema}.jobs SET status = 2, updated_at = now() WHERE id = ANY($1::bigint[])`, [ids]);
          done += ids.length;
        }
      } finally {
        client.release();
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    const ms = performance.now() - t0;
    if (done !== tasks) throw new Error(`raw PostgreSQL: ${done} of ${tasks} done`);
    return { tasks, ms, rate: (tasks / ms) * 1000 };
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.end();
  }
}

/**
 * MariaDB: per 200, a transaction of SELECT ... FOR UPDATE SKIP LOCKED + UPDATE (the claim),
 * then one done UPDATE. READ COMMITTED (no gap locks), and a deadlock is retried, as a
 * real queue on InnoDB must.
 */
export async function rawMariadb(database: string, tasks: number): Promise<RawResult> {
  await myAdmin(`DROP DATABASE IF EXISTS ${database}`, `CREATE DATABASE ${database}`);
  const pool = mysql.createPool({ ...MY, database, connectionLimit: WORKERS });
  try {
    await pool.query(`CREATE TABLE jobs (id BIGINT AUTO_INCREMENT PRIMARY KEY, status TINYINT NOT NULL DEFAULT 0, payload JSON NOT NULL, updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), KEY jobs_status (status, id)) ENGINE=InnoDB`);
    for (let i = 0; i < tasks; i += 1000) {
      const n = Math.min(1000, tasks - i);
      await pool.query(`INSERT INTO jobs (status, payload) VALUES ${Array.from({ length: n }, () => "(0, '{}')").join(',')}`);
    }
    const t0 = performance.now();
    let done = 0;
    const retrying = async <T>(conn: mysql.PoolConnection, fn: () => Promise<T>): Promise<T> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await fn();
        } catch (error) {
          await conn.rollback().catch(() => {});
          if ((error as { errno?: number }).errno !== 1213 || attempt >= 20) throw error;
          deadlocks += 1;
        }
      }
    };
    let deadlocks = 0;
    const worker = async () => {
      const conn = await pool.getConnection();
      await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
      try {
        for (;;) {
          const ids = await retrying(conn, async () => {
            await conn.beginTransaction();
            const [rows] = await conn.query<mysql.RowDataPacket[]>(`SELECT id FROM jobs WHERE status = 0 ORDER BY id LIMIT ${CLAIM} FOR UPDATE SKIP LOCKED`);
            const claimed = rows.map((r) => Number(r.id));
            if (claimed.length) await conn.query(`UPDATE jobs SET status = 1, updated_at = NOW(3) WHERE id IN (${claimed.join(',')})`);
            await conn.commit();
            return claimed;
          });
          if (ids.length === 0) return;
          await retrying(conn, () => conn.query(`UPDATE jobs SET status = 2, updated_at = NOW(3) WHERE id IN (${ids.join(',')})`));
          done += ids.length;
        }
      } finally {
        conn.release();
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    const ms = performance.now() - t0;
    if (done !== tasks) throw new Error(`raw MariaDB: ${done} of ${tasks} done`);
    return { tasks, ms, rate: (tasks / ms) * 1000, deadlocks };
  } finally {
    await pool.end();
    await myAdmin(`DROP DATABASE IF EXISTS ${database}`).catch(() => {});
  }
}

/** SQLite: one connection (SQLite has one writer), UPDATE ... RETURNING claims 200, one done UPDATE per 200. Default pragmas, like the upkeep run. */
export async function rawSqlite(tasks: number): Promise<RawResult> {
  const dir = mkdtempSync(join(tmpdir(), 'upkeep-bench-raw-'));
  const db = new Database(join(dir, 'raw.db'));
  try {
    db.exec(`CREATE TABLE jobs (id INTEGER PRIMARY KEY, status INTEGER NOT NULL DEFAULT 0, payload TEXT NOT NULL DEFAULT '{}', updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')))`);
    db.exec('CREATE INDEX jobs_pending ON jobs (id) WHERE status = 0');
    const insert = db.prepare('INSERT INTO jobs (status) VALUES (0)');
    db.transaction(() => {
      for (let i = 0; i < tasks; i++) insert.run();
    })();
    const claim = db.prepare(`UPDATE jobs SET status = 1, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ') WHERE id IN (SELECT id FROM jobs WHERE status = 0 ORDER BY id LIMIT ${CLAIM}) RETURNING id`);
    const t0 = performance.now();
    let done = 0;
    for (;;) {
      const ids = (claim.all() as Array<{ id: number }>).map((r) => r.id);
      if (ids.length === 0) break;
      db.prepare(`UPDATE jobs SET status = 2, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ') WHERE id IN (${ids.join(',')})`).run();
      done += ids.length;
      await null;
    }
    const ms = performance.now() - t0;
    if (done !== tasks) throw new Error(`raw SQLite: ${done} of ${tasks} done`);
    return { tasks, ms, rate: (tasks / ms) * 1000 };
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function sqliteVersion(): string {
  const db = new Database(':memory:');
  try {
    return String((db.prepare('SELECT sqlite_version() AS v').all()[0] as { v: string }).v);
  } finally {
    db.close();
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';
import { dialectOf } from '../store/dialect';
import { lastErrorText } from '../core/task-info';

type Json = Record<string, unknown>;
interface Row {
  id: string;
  status: string;
  attempts: number | string | null;
  info: unknown;
  runner_info: unknown;
  last_error: string | null;
}

/** What the runner kept in `info` before this migration and keeps in `runner_info` after it. */
const RUNNER_KEYS = ['attempts', 'placement', 'oom'] as const;
const BATCH = 500;

/**
 * Adds `maintenance_tasks.runner_info`: what the runner records about a task for itself
 * (failed attempts, placement and out-of-memory decisions), so that `info` holds only the
 * task's outcome as the seed has it: the processor's returned object on COMPLETED, the
 * error's message in `info.error` on ERROR. Existing rows are moved in batches:
 * - COMPLETED `{ result, ... }` → `info` = the result when it is an object, else `{ result }`
 *   (`null` when the result was null);
 * - `info.error` as an object → `{ error: message, errorName, errorCode?, attempt }`, the
 *   stack (if any) moved into `last_error` after the message;
 * - `attempts`, `placement`, `oom` → `runner_info`.
 * `down()` moves them back (a COMPLETED `{ result: x }` alone becomes `{ result: x }` again)
 * and drops the column. Each batch of 500 rows is one SELECT and one UPDATE (10 s for
 * 100,000 old-shape rows on PostgreSQL on a 2-vCPU machine, 2026-12-02); inside TypeORM's default migration
 * transaction the table stays locked until the end, so run it when runners are stopped or
 * quiet on a very large table.
 */
export class UpkeepRunnerInfo1764900000000 implements MigrationInterface {
  name = 'UpkeepRunnerInfo1764900000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const dialect = dialectOf(queryRunner.connection);
    const q = dialect === 'mysql' ? (n: string) => `\`${n}\`` : (n: string) => `"${n}"`;
    // Re-runnable: MySQL/MariaDB commit DDL at once, so an up() that failed later left the column.
    if (!(await queryRunner.hasColumn('maintenance_tasks', 'runner_info'))) {
      await queryRunner.query(`ALTER TABLE ${q('maintenance_tasks')} ADD COLUMN ${q('runner_info')} ${dialect === 'postgres' ? 'jsonb' : 'json'} NULL`);
    }
    await rewriteRows(queryRunner, `${q('info')} IS NOT NULL`, toNewShape);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = dialectOf(queryRunner.connection) === 'mysql' ? (n: string) => `\`${n}\`` : (n: string) => `"${n}"`;
    await rewriteRows(queryRunner, `(${q('info')} IS NOT NULL OR ${q('runner_info')} IS NOT NULL OR ${q('status')} = 'COMPLETED')`, toOldShape);
    await queryRunner.query(`ALTER TABLE ${q('maintenance_tasks')} DROP COLUMN ${q('runner_info')}`);
  }
}

/** The new columns of a row, or undefined to leave it as it is. */
type Rewrite = (row: Row, info: Json | null, runnerInfo: Json | null) => { info: Json | null; runnerInfo: Json | null; lastError?: string } | undefined;

/** Reads the rows matching `where` in batches by id, rewrites them in JS, writes each batch with one UPDATE. */
async function rewriteRows(queryRunner: QueryRunner, where: string, rewrite: Rewrite): Promise<void> {
  const dialect = dialectOf(queryRunner.connection);
  const q = dialect === 'mysql' ? (n: string) => `\`${n}\`` : (n: string) => `"${n}"`;
  let n = 0;
  const p = () => (dialect === 'postgres' ? `$${++n}` : '?');
  const jsonParam = () => (dialect === 'postgres' ? `CAST(${p()} AS jsonb)` : p());
  const table = q('maintenance_tasks');
  let after = '';
  for (;;) {
    n = 0;
    const rows: Row[] = await queryRunner.query(
      `SELECT ${q('id')} AS ${q('id')}, ${q('status')} AS ${q('status')}, ${q('attempts')} AS ${q('attempts')}, ${q('info')} AS ${q('info')},
              ${q('runner_info')} AS ${q('runner_info')}, ${q('last_error')} AS ${q('last_error')}
         FROM ${table} WHERE ${q('id')} > ${p()} AND ${where} ORDER BY ${q('id')} LIMIT ${BATCH}`,
      [after],
    );
    const changed: Array<{ id: string; next: NonNullable<ReturnType<Rewrite>> }> = [];
    for (const row of rows) {
      const info = parse(row.info);
      const runnerInfo = parse(row.runner_info);
      // Unreadable JSON (or not an object) is left as it is.
      if (info === undefined || runnerInfo === undefined) continue;
      const next = rewrite(row, info, runnerInfo);
      if (next) changed.push({ id: row.id, next });
    }
    if (changed.length) {
      n = 0;
      const params: unknown[] = [];
      const caseOf = (col: string, value: (c: (typeof changed)[number]) => unknown, cast: () => string, only = changed) => {
        const whens = only.map((c) => {
          params.push(c.id, value(c));
          return `WHEN ${p()} THEN ${cast()}`;
        });
        return `${q(col)} = CASE ${q('id')} ${whens.join(' ')} ELSE ${q(col)} END`;
      };
      const sets = [caseOf('info', (c) => json(c.next.info), jsonParam), caseOf('runner_info', (c) => json(c.next.runnerInfo), jsonParam)];
      const withError = changed.filter((c) => c.next.lastError !== undefined);
      if (withError.length) sets.push(caseOf('last_error', (c) => c.next.lastError, p, withError));
      const ids = changed.map((c) => {
        params.push(c.id);
        return p();
      });
      await queryRunner.query(`UPDATE ${table} SET ${sets.join(', ')} WHERE ${q('id')} IN (${ids.join(', ')})`, params);
    }
    if (rows.length < BATCH) return;
    after = rows[rows.length - 1]!.id;
  }
}

/** A JSON column as an object, null when NULL, undefined when it is not a JSON object. */
function parse(value: unknown): Json | null | undefined {
  if (value === null || value === undefined) return null;
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  if (parsed === null) return null;
  return typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Json) : undefined;
}

function json(value: Json | null): string | null {
  return value === null ? null : JSON.stringify(value);
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Old shape → new shape. */
function toNewShape(row: Row, info: Json | null): ReturnType<Rewrite> {
  if (!info) return undefined;
  const moved: Json = {};
  const rest: Json = { ...info };
  for (const key of RUNNER_KEYS) {
    if (key in rest) {
      moved[key] = rest[key];
      delete rest[key];
    }
  }
  let nextInfo: Json | null = rest;
  let lastError: string | undefined;
  if (row.status === 'COMPLETED' && 'result' in rest) {
    // A returned {} stays {} (as the runner stores it now); only a null result is no info.
    const result = rest.result;
    const outcome = result === null || result === undefined ? null : isObject(result) ? result : { result };
    return { info: outcome, runnerInfo: Object.keys(moved).length ? moved : null };
  } else if (isObject(rest.error)) {
    const { error, ...others } = rest;
    const message = typeof error.message === 'string' ? error.message : String(error.message ?? '');
    const attempt = typeof error.attempt === 'number' ? error.attempt : Number(row.attempts ?? 0);
    nextInfo = {
      ...others,
      error: message,
      errorName: typeof error.name === 'string' ? error.name : 'Error',
      ...(typeof error.code === 'string' ? { errorCode: error.code } : {}),
      attempt,
    };
    if (typeof error.stack === 'string' && error.stack) lastError = lastErrorText({ message, stack: error.stack });
  } else if (!Object.keys(moved).length) {
    return undefined; // nothing of the old shape in it
  }
  if (nextInfo && !Object.keys(nextInfo).length) nextInfo = null;
  return { info: nextInfo, runnerInfo: Object.keys(moved).length ? moved : null, ...(lastError !== undefined ? { lastError } : {}) };
}

/** New shape → old shape (for `down`). */
function toOldShape(row: Row, info: Json | null, runnerInfo: Json | null): ReturnType<Rewrite> {
  const back: Json = {};
  for (const key of RUNNER_KEYS) if (runnerInfo && key in runnerInfo) back[key] = runnerInfo[key];
  let old: Json;
  if (row.status === 'COMPLETED') {
    // A stored non-object result was wrapped as { result }; anything else is the result itself.
    const result = info === null ? null : Object.keys(info).length === 1 && 'result' in info ? info.result : info;
    old = { ...back, result };
  } else if (info && typeof info.error === 'string') {
    const { error, errorName, errorCode, attempt, ...others } = info;
    old = { ...others, ...back, error: { name: errorName ?? 'Error', message: error, ...(errorCode !== undefined ? { code: errorCode } : {}), ...(attempt !== undefined ? { attempt } : {}) } };
  } else if (Object.keys(back).length) {
    old = { ...(info ?? {}), ...back };
  } else {
    return undefined;
  }
  // Written before the column is dropped: runner_info's value no longer matters.
  return { info: old, runnerInfo: null };
}

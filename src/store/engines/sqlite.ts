import type { Executor } from '../executor';
import { CHUNK } from '../store-util';
import type { ClaimPlan, CompletionPlan, ErrorCodes, Fragment, HeldRow, LeaseRenewalPlan, Row, StoreEngine, TaskInsertPlan } from './engine';
import { caseCompletion, insertEventValues, insertValues, renewThenRead } from './shared';

/** SQLite passing conditions and refusals (better-sqlite3 `code`, extended codes included). */
const TRANSIENT_PREFIXES = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR', 'SQLITE_PROTOCOL', 'SQLITE_FULL'];
const REFUSED_PREFIXES = ['SQLITE_TOOBIG', 'SQLITE_MISMATCH', 'SQLITE_RANGE', 'SQLITE_CONSTRAINT_CHECK', 'SQLITE_CONSTRAINT_NOTNULL', 'SQLITE_CONSTRAINT_DATATYPE'];

/**
 * SQLite: one writer at a time (the executor serialises upkeep's statements), so there are
 * no row locks to order or skip; UPDATE and INSERT return rows with RETURNING.
 */
export const sqliteEngine: StoreEngine = {
  dialect: 'sqlite',
  insertChunkSize: CHUNK,
  listens: false,

  param: () => '?',
  boolLiteral: (value) => (value ? '1' : '0'),
  returning: (cols) => ` RETURNING ${cols}`,
  upsert: (key, cols, q) => `ON CONFLICT (${q(key)}) DO UPDATE SET ${cols.map((c) => `${q(c)} = excluded.${q(c)}`).join(', ')}`,
  rowBefore: (a, b, va, vb): Fragment => ({ sql: `(${a}, ${b}) < (?, ?)`, params: [va, vb] }),

  async claim(db: Executor, plan: ClaimPlan): Promise<Row[]> {
    const c = db.codec;
    const { rows } = await db.query(
      `UPDATE ${plan.table} SET ${plan.set.sql} WHERE ${c.id('id')} IN (SELECT t.${c.id('id')} FROM ${plan.table} t
         WHERE ${plan.due.sql} ORDER BY ${plan.order} LIMIT ?) RETURNING *`,
      [...plan.set.params, ...plan.due.params, plan.limit],
    );
    return rows;
  },

  async completeBatch(db: Executor, plan: CompletionPlan): Promise<string[]> {
    const c = db.codec;
    const { set, where } = caseCompletion(c, plan, () => '?');
    const { rows } = await db.query<{ id: string }>(`UPDATE ${plan.table} SET ${set.sql} WHERE ${where.sql} RETURNING ${c.id('id')}`, [...set.params, ...where.params]);
    return rows.map((r) => r.id);
  },

  async insertTasks(db: Executor, plan: TaskInsertPlan): Promise<Set<string>> {
    const c = db.codec;
    const values = insertValues(c, plan);
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO ${plan.table} ${values.sql} ON CONFLICT (${c.id('unique_key')}) WHERE ${c.id('unique_key')} IS NOT NULL DO NOTHING RETURNING ${c.id('id')}`,
      values.params,
    );
    return new Set(rows.map((r) => r.id));
  },

  renewLeases(db: Executor, plan: LeaseRenewalPlan): Promise<HeldRow[]> {
    return renewThenRead(db, plan, (held) => ({ sql: `UPDATE ${plan.table} SET ${db.codec.id('lease_expires_at')} = ? WHERE ${held.sql}`, params: [plan.lease, ...held.params] }));
  },

  async deleteBatch(db: Executor, table: string, where: Fragment, limit: number): Promise<number> {
    const id = db.codec.id('id');
    const { affected } = await db.query(`DELETE FROM ${table} WHERE ${id} IN (SELECT ${id} FROM ${table} WHERE ${where.sql} LIMIT ?)`, [...where.params, limit]);
    return affected;
  },

  insertEvents: insertEventValues,

  notifyTasks: async () => undefined,

  writeErrorKind({ code }: ErrorCodes) {
    if (code && REFUSED_PREFIXES.some((prefix) => code.startsWith(prefix))) return 'refused';
    if (code && TRANSIENT_PREFIXES.some((prefix) => code.startsWith(prefix))) return 'transient';
    return undefined;
  },

  isLockConflict: ({ code, message }: ErrorCodes) => code?.startsWith('SQLITE_BUSY') === true || /database is locked/i.test(message),
};

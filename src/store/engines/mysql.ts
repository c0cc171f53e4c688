import type { Executor } from '../executor';
import type { ClaimPlan, CompletionPlan, ErrorCodes, Fragment, HeldRow, LeaseRenewalPlan, Row, StoreEngine, TaskInsertPlan } from './engine';
import { CHUNK } from '../store-util';
import { caseCompletion, insertEventValues, insertValues, renewThenRead } from './shared';

/** MySQL/MariaDB passing conditions (mysql2 `code` names and their numbers). */
const TRANSIENT = new Set([
  'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'ER_CON_COUNT_ERROR', 'ER_TOO_MANY_USER_CONNECTIONS', 'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED', 'ER_QUERY_INTERRUPTED', 'ER_NORMAL_SHUTDOWN', 'ER_SHUTDOWN_COMPLETE', 'ER_SERVER_GONE_ERROR', 'ER_SERVER_LOST',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_CLIENT_INTERACTION_TIMEOUT', 'ER_LOCK_ABORTED', 'ER_NET_READ_INTERRUPTED',
  'ER_NET_WRITE_INTERRUPTED', 'ER_NET_READ_ERROR', 'ER_NET_ERROR_ON_WRITE', 'ER_QUERY_TIMEOUT', 'ER_STATEMENT_TIMEOUT',
]);
const TRANSIENT_ERRNO = new Set([1213, 1205, 1040, 1203, 1053, 1927, 1317, 1077, 1079, 2006, 2013, 1158, 1159, 1160, 1161, 1969, 3024, 4031]);
/** MySQL/MariaDB refusing a value. */
const REFUSED = new Set([
  'ER_TRUNCATED_WRONG_VALUE', 'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD', 'ER_DATA_TOO_LONG', 'ER_INVALID_JSON_TEXT', 'ER_INVALID_JSON_TEXT_IN_PARAM',
  'ER_CONSTRAINT_FAILED', 'ER_CHECK_CONSTRAINT_VIOLATED', 'ER_NET_PACKET_TOO_LARGE', 'ER_WARN_DATA_OUT_OF_RANGE', 'ER_INVALID_CHARACTER_STRING',
  'ER_CANNOT_CONVERT_STRING', 'ER_JSON_DOCUMENT_TOO_DEEP', 'ER_INVALID_JSON_CHARSET', 'ER_WRONG_VALUE_FOR_TYPE',
]);
const REFUSED_ERRNO = new Set([1292, 1366, 1406, 3140, 3141, 4025, 3819, 1153, 1264, 1300, 3854, 3157, 3144]);

/**
 * MySQL/MariaDB: no RETURNING and no UPDATE ... FROM a locking subquery, so claims, batch
 * completions and deletes are short transactions that lock their rows first
 * (`SELECT ... ORDER BY id FOR UPDATE [SKIP LOCKED]`), then write and read back.
 */
export const mysqlEngine: StoreEngine = {
  dialect: 'mysql',
  insertChunkSize: CHUNK,
  listens: false,

  param: () => '?',
  boolLiteral: (value) => (value ? '1' : '0'),
  returning: () => '',
  upsert: (_key, cols, q) => `ON DUPLICATE KEY UPDATE ${cols.map((c) => `${q(c)} = VALUES(${q(c)})`).join(', ')}`,
  // Spelled out rather than a row-value comparison, as upkeep has always written it here.
  rowBefore: (a, b, va, vb): Fragment => ({ sql: `(${a} < ? OR (${a} = ? AND ${b} < ?))`, params: [va, va, vb] }),

  claim(db: Executor, plan: ClaimPlan): Promise<Row[]> {
    const c = db.codec;
    return db.transaction(async (tx) => {
      const picked = await tx.query<{ id: string }>(
        `SELECT t.${c.id('id')} FROM ${plan.table} t WHERE ${plan.due.sql}
         ORDER BY ${plan.order} LIMIT ? FOR UPDATE SKIP LOCKED`,
        [...plan.due.params, plan.limit],
      );
      if (!picked.rows.length) return [];
      const ids = picked.rows.map((r) => r.id);
      await tx.query(`UPDATE ${plan.table} SET ${plan.set.sql} WHERE ${c.id('id')} IN ${c.list(ids.length)}`, [...plan.set.params, ...ids]);
      return (await tx.query(`SELECT * FROM ${plan.table} WHERE ${c.id('id')} IN ${c.list(ids.length)}`, ids)).rows;
    });
  },

  async completeBatch(db: Executor, plan: CompletionPlan): Promise<string[]> {
    const c = db.codec;
    const { set, where } = caseCompletion(c, plan, () => '?');
    return db.transaction(async (tx) => {
      const held = await tx.query<{ id: string }>(`SELECT ${c.id('id')} FROM ${plan.table} WHERE ${where.sql} ORDER BY ${c.id('id')} FOR UPDATE`, where.params);
      if (!held.rows.length) return [];
      await tx.query(`UPDATE ${plan.table} SET ${set.sql} WHERE ${where.sql}`, [...set.params, ...where.params]);
      return held.rows.map((r) => r.id);
    });
  },

  async insertTasks(db: Executor, plan: TaskInsertPlan): Promise<Set<string>> {
    const c = db.codec;
    const values = insertValues(c, plan);
    await db.query(`INSERT INTO ${plan.table} ${values.sql} ON DUPLICATE KEY UPDATE ${c.id('id')} = ${c.id('id')}`, values.params);
    // Without RETURNING: unkeyed rows went in; a keyed row went in when its id is there.
    const keyed = plan.records.filter((r) => r.unique_key !== null).map((r) => r.id as string);
    const present = new Set<string>(plan.records.filter((r) => r.unique_key === null).map((r) => r.id as string));
    if (keyed.length) {
      const { rows } = await db.query<{ id: string }>(`SELECT ${c.id('id')} FROM ${plan.table} WHERE ${c.id('id')} IN ${c.list(keyed.length)}`, keyed);
      for (const row of rows) present.add(row.id);
    }
    return present;
  },

  renewLeases(db: Executor, plan: LeaseRenewalPlan): Promise<HeldRow[]> {
    const c = db.codec;
    return renewThenRead(db, plan, (held) => ({ sql: `UPDATE ${plan.table} SET ${c.id('lease_expires_at')} = ? WHERE ${held.sql} ORDER BY ${c.id('id')}`, params: [plan.lease, ...held.params] }));
  },

  deleteBatch(db: Executor, table: string, where: Fragment, limit: number): Promise<number> {
    const c = db.codec;
    const id = c.id('id');
    return db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: unknown }>(`SELECT ${id} FROM ${table} WHERE ${where.sql} LIMIT ? FOR UPDATE SKIP LOCKED`, [...where.params, limit]);
      if (!rows.length) return 0;
      const ids = rows.map((r) => r.id);
      const { affected } = await tx.query(`DELETE FROM ${table} WHERE ${id} IN ${c.list(ids.length)}`, ids);
      return affected;
    });
  },

  insertEvents: insertEventValues,

  notifyTasks: async () => undefined,

  writeErrorKind({ code, errno }: ErrorCodes) {
    if ((code && REFUSED.has(code)) || (errno !== undefined && REFUSED_ERRNO.has(errno))) return 'refused';
    if ((code && TRANSIENT.has(code)) || (errno !== undefined && TRANSIENT_ERRNO.has(errno))) return 'transient';
    return undefined;
  },

  isLockConflict: ({ code, errno }: ErrorCodes) => code === 'ER_LOCK_DEADLOCK' || code === 'ER_LOCK_WAIT_TIMEOUT' || errno === 1213 || errno === 1205,
};

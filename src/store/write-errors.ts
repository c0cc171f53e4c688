import type { Dialect } from './dialect';

/**
 * What a failed write means:
 * - `transient`: the database could not take the write now (connection lost, server
 *   restarting, deadlock, lock timeout, too many connections): retry it later, unchanged;
 * - `refused`: the database refused one of the values written (bad text, too long, too big):
 *   the same write will never succeed;
 * - `unknown`: neither could be told from the error.
 */
export type WriteErrorKind = 'transient' | 'refused' | 'unknown';

/** Node.js socket and pool errors: the server went away or is not there yet. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED']);

/** Messages of drivers that lost their connection without a code. */
const NETWORK_MESSAGES = [
  /connection terminated/i,
  /terminating connection/i,
  /connection (was )?(lost|closed|killed|ended)/i,
  /server closed the connection/i,
  /timeout exceeded when trying to connect/i,
  /cannot enqueue .* after (fatal error|being destroyed|invoking quit)/i,
  /the database system is (starting up|shutting down|in recovery mode)/i,
  /Client has encountered a connection error/i,
  /Connection is not established/i,
];

/** SQLSTATE classes and codes PostgreSQL uses for passing conditions. */
const PG_TRANSIENT_PREFIXES = ['08', '53', '57P', '40'];
const PG_TRANSIENT = new Set(['55P03', '55006', '58030']);
/** PostgreSQL refusing a value: bad text or JSON, too long, too big, out of range, bad encoding. */
const PG_REFUSED = new Set(['22P05', '22021', '22001', '54000', '22P02', '22003', '2200N', '22023', '22030', '22032', '22033', '22034', '22035', '22036', '22037', '22038', '22039', '2203A', '2203B', '2203C', '2203D', '2203E', '2203F', '22000']);

/** MySQL/MariaDB passing conditions (mysql2 `code` names and their numbers). */
const MYSQL_TRANSIENT = new Set([
  'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'ER_CON_COUNT_ERROR', 'ER_TOO_MANY_USER_CONNECTIONS', 'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED', 'ER_QUERY_INTERRUPTED', 'ER_NORMAL_SHUTDOWN', 'ER_SHUTDOWN_COMPLETE', 'ER_SERVER_GONE_ERROR', 'ER_SERVER_LOST',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_CLIENT_INTERACTION_TIMEOUT', 'ER_LOCK_ABORTED', 'ER_NET_READ_INTERRUPTED',
  'ER_NET_WRITE_INTERRUPTED', 'ER_NET_READ_ERROR', 'ER_NET_ERROR_ON_WRITE', 'ER_QUERY_TIMEOUT', 'ER_STATEMENT_TIMEOUT',
]);
const MYSQL_TRANSIENT_ERRNO = new Set([1213, 1205, 1040, 1203, 1053, 1927, 1317, 1077, 1079, 2006, 2013, 1158, 1159, 1160, 1161, 1969, 3024, 4031]);
/** MySQL/MariaDB refusing a value. */
const MYSQL_REFUSED = new Set([
  'ER_TRUNCATED_WRONG_VALUE', 'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD', 'ER_DATA_TOO_LONG', 'ER_INVALID_JSON_TEXT', 'ER_INVALID_JSON_TEXT_IN_PARAM',
  'ER_CONSTRAINT_FAILED', 'ER_CHECK_CONSTRAINT_VIOLATED', 'ER_NET_PACKET_TOO_LARGE', 'ER_WARN_DATA_OUT_OF_RANGE', 'ER_INVALID_CHARACTER_STRING',
  'ER_CANNOT_CONVERT_STRING', 'ER_JSON_DOCUMENT_TOO_DEEP', 'ER_INVALID_JSON_CHARSET', 'ER_WRONG_VALUE_FOR_TYPE',
]);
const MYSQL_REFUSED_ERRNO = new Set([1292, 1366, 1406, 3140, 3141, 4025, 3819, 1153, 1264, 1300, 3854, 3157, 3144]);

/** SQLite passing conditions and refusals (better-sqlite3 `code`, extended codes included). */
const SQLITE_TRANSIENT_PREFIXES = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR', 'SQLITE_PROTOCOL', 'SQLITE_FULL'];
const SQLITE_REFUSED_PREFIXES = ['SQLITE_TOOBIG', 'SQLITE_MISMATCH', 'SQLITE_RANGE', 'SQLITE_CONSTRAINT_CHECK', 'SQLITE_CONSTRAINT_NOTNULL', 'SQLITE_CONSTRAINT_DATATYPE'];

function codesOf(error: unknown): { code?: string; errno?: number; message: string } {
  const e = error as { code?: unknown; errno?: unknown; message?: unknown; driverError?: { code?: unknown; errno?: unknown; message?: unknown } } | null;
  const driver = e?.driverError;
  const code = [driver?.code, e?.code].find((c): c is string => typeof c === 'string');
  const errno = [driver?.errno, e?.errno].find((n): n is number => typeof n === 'number');
  const message = [e?.message, driver?.message].filter((m) => typeof m === 'string').join(' | ');
  return { code, errno, message };
}

/**
 * Classifies an error of a write by the database's own code (SQLSTATE on PostgreSQL,
 * error code/number on MySQL/MariaDB, result code on SQLite), then by driver network codes.
 */
export function classifyWriteError(error: unknown, dialect: Dialect): WriteErrorKind {
  const { code, errno, message } = codesOf(error);
  if (code && NETWORK_CODES.has(code)) return 'transient';
  switch (dialect) {
    case 'postgres':
      if (code && PG_REFUSED.has(code)) return 'refused';
      if (code && (PG_TRANSIENT.has(code) || PG_TRANSIENT_PREFIXES.some((prefix) => code.startsWith(prefix)))) return 'transient';
      break;
    case 'mysql':
      if ((code && MYSQL_REFUSED.has(code)) || (errno !== undefined && MYSQL_REFUSED_ERRNO.has(errno))) return 'refused';
      if ((code && MYSQL_TRANSIENT.has(code)) || (errno !== undefined && MYSQL_TRANSIENT_ERRNO.has(errno))) return 'transient';
      break;
    case 'sqlite':
      if (code && SQLITE_REFUSED_PREFIXES.some((prefix) => code.startsWith(prefix))) return 'refused';
      if (code && SQLITE_TRANSIENT_PREFIXES.some((prefix) => code.startsWith(prefix))) return 'transient';
      break;
  }
  if (NETWORK_MESSAGES.some((pattern) => pattern.test(message))) return 'transient';
  return 'unknown';
}

/** True for a deadlock or a lock wait timeout: the statement lost a race and may simply run again. */
export function isLockConflict(error: unknown, dialect: Dialect): boolean {
  const { code, errno, message } = codesOf(error);
  if (dialect === 'postgres') return code === '40P01' || code === '55P03' || code === '40001';
  if (dialect === 'mysql') return code === 'ER_LOCK_DEADLOCK' || code === 'ER_LOCK_WAIT_TIMEOUT' || errno === 1213 || errno === 1205;
  return code?.startsWith('SQLITE_BUSY') === true || /database is locked/i.test(message);
}

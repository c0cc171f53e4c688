import type { Dialect } from './dialect';
import type { ErrorCodes } from './engines/engine';
import { engineFor } from './engines';

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
  /can't add new command when connection is in closed state/i, // mysql2: a pooled connection the server dropped
];

function codesOf(error: unknown): ErrorCodes {
  const e = error as { code?: unknown; errno?: unknown; message?: unknown; driverError?: { code?: unknown; errno?: unknown; message?: unknown } } | null;
  const driver = e?.driverError;
  const code = [driver?.code, e?.code].find((c): c is string => typeof c === 'string');
  const errno = [driver?.errno, e?.errno].find((n): n is number => typeof n === 'number');
  const message = [e?.message, driver?.message].filter((m) => typeof m === 'string').join(' | ');
  return { code, errno, message };
}

/**
 * Classifies an error of a write by the database's own code (SQLSTATE on PostgreSQL,
 * error code/number on MySQL/MariaDB, result code on SQLite: each engine's table), then by
 * driver network codes.
 */
export function classifyWriteError(error: unknown, dialect: Dialect): WriteErrorKind {
  const codes = codesOf(error);
  if (codes.code && NETWORK_CODES.has(codes.code)) return 'transient';
  const kind = engineFor(dialect).writeErrorKind(codes);
  if (kind) return kind;
  if (NETWORK_MESSAGES.some((pattern) => pattern.test(codes.message))) return 'transient';
  return 'unknown';
}

/** True for a deadlock or a lock wait timeout: the statement lost a race and may simply run again. */
export function isLockConflict(error: unknown, dialect: Dialect): boolean {
  return engineFor(dialect).isLockConflict(codesOf(error));
}

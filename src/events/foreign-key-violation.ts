import type { Dialect } from '../store/dialect';

/**
 * True when a write failed a foreign key: the row points at something that is gone (a task
 * deleted by retention or an admin while its events waited). The same row will never be
 * stored, so it counts as refused. `classifyWriteError` says `unknown` for it today on every
 * dialect (PostgreSQL SQLSTATE 23503; MySQL/MariaDB ER_NO_REFERENCED_ROW_2 1452 and
 * ER_NO_REFERENCED_ROW 1216; SQLite SQLITE_CONSTRAINT_FOREIGNKEY).
 */
export function isForeignKeyViolation(error: unknown, dialect: Dialect): boolean {
  const e = error as { code?: unknown; errno?: unknown; driverError?: { code?: unknown; errno?: unknown } } | null;
  const codes = [e?.driverError?.code, e?.code];
  const errnos = [e?.driverError?.errno, e?.errno];
  switch (dialect) {
    case 'postgres':
      return codes.includes('23503');
    case 'mysql':
      return codes.includes('ER_NO_REFERENCED_ROW_2') || codes.includes('ER_NO_REFERENCED_ROW') || errnos.includes(1452) || errnos.includes(1216);
    case 'sqlite':
      return codes.includes('SQLITE_CONSTRAINT_FOREIGNKEY');
    default:
      return false;
  }
}

/** Rows per multi-row statement. */
export const CHUNK = 500;

export const TASK_TABLE = 'maintenance_tasks';
export const DEP_TABLE = 'maintenance_task_dependencies';

/** `items` in slices of `size`. */
export function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Column `col` (quoted by `codec`, on `alias` when given) as an expression no plain index can
 * serve: for the conditions beside a primary-key lookup (`status = 'WORKING'`,
 * `locked_by = ?`). PostgreSQL plans with the statistics of the last ANALYZE; taken while
 * every row was PENDING, they say no row is WORKING or locked, and an index on status or
 * locked_by then looks cheaper than the primary key. Those indexes keep an entry, dead until
 * VACUUM, for every task that ran since, so a statement taking that path reads them all (a
 * 200,000-task backlog slowed from 6,000 to 1,000 tasks/s as it drained). Same truth value:
 * the columns it is used on are never '' where the condition compares them.
 */
export function unindexed(codec: { id(name: string): string }, col: string, alias = ''): string {
  return `COALESCE(${alias ? `${alias}.` : ''}${codec.id(col)}, '')`;
}

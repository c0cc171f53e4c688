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

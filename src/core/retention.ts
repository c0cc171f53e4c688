import { InvalidArgumentError } from './errors';

/** How long finished work is kept; runners prune older rows in batches. */
export interface RetentionOptions {
  /** Delete COMPLETED tasks finished longer ago than this. Unset: keep them. */
  completedAfterMs?: number;
  /** Delete ERROR and CANCELLED tasks finished longer ago than this. Unset: keep them. */
  failedAfterMs?: number;
  /** Delete `task_events` rows older than this. Unset: keep them. */
  eventsAfterMs?: number;
  /** Delete `task_metrics` rows older than this. Unset: keep them. */
  metricsAfterMs?: number;
  /** How often each runner prunes. @defaultValue 600000 (ten minutes) */
  intervalMs?: number;
  /** Rows deleted per statement. @defaultValue 1000 */
  batchSize?: number;
}

/** Rows deleted by one prune. */
export interface PruneResult {
  /** Tasks deleted (their events, metrics and dependency rows go with them). */
  tasks: number;
  /** Events deleted by age. */
  events: number;
  /** Metric samples deleted by age. */
  metrics: number;
}

const KEYS = ['completedAfterMs', 'failedAfterMs', 'eventsAfterMs', 'metricsAfterMs', 'intervalMs', 'batchSize'] as const;

/** Validates retention options; unknown keys and bad values name the key. */
export function validateRetention(options: RetentionOptions | undefined, where = 'retention'): Required<Pick<RetentionOptions, 'intervalMs' | 'batchSize'>> & RetentionOptions {
  const value = options ?? {};
  if (typeof value !== 'object' || value === null) throw new InvalidArgumentError(`${where} must be an object`);
  for (const key of Object.keys(value)) {
    if (!(KEYS as readonly string[]).includes(key)) throw new InvalidArgumentError(`${where}: unknown option "${key}"`);
  }
  for (const key of KEYS) {
    const v = value[key];
    if (v !== undefined && (!Number.isInteger(v) || v < (key === 'batchSize' || key === 'intervalMs' ? 1 : 0))) {
      throw new InvalidArgumentError(`${where}.${key} must be a non-negative integer (got ${JSON.stringify(v)})`);
    }
    if (key === 'intervalMs' && v !== undefined && v > 2_147_483_647) {
      throw new InvalidArgumentError(`${where}.intervalMs must be at most 2147483647 ms (Node.js timers fire longer delays at once)`);
    }
  }
  return { intervalMs: 600_000, batchSize: 1000, ...value };
}

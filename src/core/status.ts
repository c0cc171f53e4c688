/** Lifecycle status of a maintenance task, stored in `maintenance_tasks.status`. */
export const TaskStatus = {
  /** Created but not scheduled; a runner never picks it up until it is activated. */
  INACTIVE: 'INACTIVE',
  /** Scheduled; picked up once `start_at` has passed and its dependencies completed. */
  PENDING: 'PENDING',
  /** Claimed by a runner that holds its lease. */
  WORKING: 'WORKING',
  /** Finished successfully; `info` holds the processor's result. */
  COMPLETED: 'COMPLETED',
  /** Failed for good; `failure_reason` and `info.error` say why. */
  ERROR: 'ERROR',
  /** Held by an admin; keeps its cursor and resumes as PENDING. */
  PAUSED: 'PAUSED',
  /** Cancelled by an admin, a failed dependency, or the processor itself. */
  CANCELLED: 'CANCELLED',
} as const;
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

export const ALL_TASK_STATUSES: readonly TaskStatus[] = Object.values(TaskStatus);

/** Statuses a task never leaves on its own (an admin may still retry ERROR/CANCELLED). */
export const FINISHED_STATUSES: readonly TaskStatus[] = ['COMPLETED', 'ERROR', 'CANCELLED'];

/**
 * The one table that decides which status may follow which. Every status change in the
 * store is a conditional UPDATE whose WHERE clause is built from this table, so two
 * writers racing (two runners, or an admin and a runner) can never both win.
 */
export const TASK_TRANSITIONS: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = {
  INACTIVE: ['PENDING', 'CANCELLED'],
  // PENDING -> ERROR: a task of a type no running build knows (UNKNOWN_PROCESSOR).
  PENDING: ['WORKING', 'PAUSED', 'CANCELLED', 'INACTIVE', 'ERROR'],
  // WORKING -> PENDING: retry, graceful hand-back, lease rescue, manual reset.
  WORKING: ['COMPLETED', 'ERROR', 'PENDING', 'PAUSED', 'CANCELLED'],
  PAUSED: ['PENDING', 'CANCELLED'],
  // Admin retry of a failed or cancelled task.
  ERROR: ['PENDING'],
  CANCELLED: ['PENDING'],
  COMPLETED: [],
};

/** True when the transition table allows `from` → `to`. */
export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TASK_TRANSITIONS[from].includes(to);
}

/** Statuses from which `to` may be reached, for the WHERE clause of a conditional UPDATE. */
export function sourcesOf(to: TaskStatus): TaskStatus[] {
  return ALL_TASK_STATUSES.filter((from) => TASK_TRANSITIONS[from].includes(to));
}

/** Why a task ended in ERROR (or CANCELLED), stored in `maintenance_tasks.failure_reason`. */
export const TaskFailureReason = {
  /** The processor threw (or rejected with) an error. */
  PROCESSOR_ERROR: 'processor_error',
  /** The task ran past its timeout; its signal was aborted. */
  TIMEOUT: 'timeout',
  /** The stored `processor_json` is not valid JSON or no longer passes validation. */
  INVALID_CONFIG: 'invalid_config',
  /** No processor is registered under the stored `processor_type`. */
  UNKNOWN_PROCESSOR: 'unknown_processor',
  /** The runner holding the task died and the task was out of attempts. */
  LEASE_EXPIRED: 'lease_expired',
  /** A task this one depends on ended in ERROR or CANCELLED. */
  DEPENDENCY_FAILED: 'dependency_failed',
  /** Cancelled by an admin or by the processor. */
  CANCELLED: 'cancelled',
  /** The processor returned something that cannot be stored as JSON. */
  RESULT_NOT_SERIALIZABLE: 'result_not_serializable',
  /** Work ran out of memory on every attempt. */
  OUT_OF_MEMORY: 'out_of_memory',
  /** No pooled service became free in time. */
  POOL_EXHAUSTED: 'pool_exhausted',
  /** The device the task needed is unknown, unhealthy, or full. */
  DEVICE_UNAVAILABLE: 'device_unavailable',
  /** The task's measured memory passed its limit. */
  MEMORY_LIMIT_EXCEEDED: 'memory_limit_exceeded',
} as const;
export type TaskFailureReason = (typeof TaskFailureReason)[keyof typeof TaskFailureReason];

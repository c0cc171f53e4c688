import type { TaskFailureReason, TaskStatus } from '../core/status';
import type { MaintenanceTask, JsonValue } from '../entities/maintenance-task.entity';

/** Error details as carried in events. */
export interface EventError {
  /** Error class name (or `NonErrorThrown`). */
  name: string;
  /** Readable message. */
  message: string;
  /** `UpkeepError` code, when there is one. */
  code?: string;
}

/**
 * Every event upkeep emits, `namespace:verb` keys with one object payload each so fields
 * can be added without breaking listeners. Listener errors are caught and never break a task.
 */
export interface UpkeepEventMap {
  /** A task was inserted (not emitted for de-duplicated enqueues). */
  'task:created': { task: MaintenanceTask };
  /** A runner claimed a task and is about to run it. */
  'task:started': { task: MaintenanceTask; runnerId: string; attempt: number };
  /** A processor reported progress (throttled to about once a second in the database). */
  'task:progress': { task: MaintenanceTask; done: number; total: number | null };
  /** A processor entered a new stage via `ctx.stage(name)`. */
  'task:stage': { task: MaintenanceTask; stage: string };
  /** A task finished; `info` is what the processor returned. */
  'task:completed': { task: MaintenanceTask; info: JsonValue; durationMs: number };
  /** An attempt failed; `willRetry` says whether another attempt is scheduled at `retryAt`. */
  'task:failed': { task: MaintenanceTask; error: EventError; reason: TaskFailureReason; willRetry: boolean; retryAt?: Date };
  /** A task was cancelled (admin, dependency failure, or the processor). */
  'task:cancelled': { task: MaintenanceTask; reason: TaskFailureReason; by: 'admin' | 'dependency' | 'processor' };
  /** A task was paused (cooperatively, at its next safe point when it was running). */
  'task:paused': { task: MaintenanceTask };
  /** A paused task was resumed (back to PENDING). */
  'task:resumed': { task: MaintenanceTask };
  /** An admin re-queued a failed or cancelled task. */
  'task:retried': { task: MaintenanceTask };
  /** A running task was handed back to PENDING (graceful stop, queue timeout). */
  'task:released': { task: MaintenanceTask; reason: 'shutdown' | 'queue_timeout' };
  /** A task's lease ran out (its runner died); it was requeued or failed with LEASE_EXPIRED. */
  'task:lease-expired': { task: MaintenanceTask; previousRunner: string | null; requeued: boolean };
  /** A stuck WORKING task was reset to PENDING by the admin action. */
  'task:reset': { task: MaintenanceTask };
  /** A pooled service (or device) was acquired for a task. */
  'resource:acquired': { taskId: string; device: string; instanceId: string | null; memoryMb: number | null };
  /** A pooled service was released by a task. */
  'resource:released': { taskId: string; device: string; instanceId: string | null };
  /** A task's measured memory reached 90 % of its `memoryLimitMb`. */
  'memory:warning': { taskId: string; device: string | null; usedMb: number; limitMb: number };
  /** Cleanup hooks of a task started. */
  'cleanup:started': { taskId: string; hooks: number };
  /** Cleanup hooks of a task finished (or were cut off at the timeout). */
  'cleanup:completed': { taskId: string; durationMs: number; timedOut: boolean; errors: EventError[] };
  /** An out-of-memory failure was handled: what happens next and the memory state at the time. */
  'task:oom': { taskId: string; device: string | null; memory: Record<string, JsonValue>; action: 'retry' | 'cpu_fallback' | 'give_up'; batchFactor: number };
  /** Something a host should forward to its monitoring (today: out-of-memory failures). */
  alert: { severity: 'warning' | 'critical'; kind: string; message: string; taskId?: string; details?: Record<string, JsonValue> };
  /** A runner started claiming. */
  'runner:started': { runnerId: string; concurrency: number; processorTypes: string[] };
  /** A runner stopped; `handedBack` tasks went back to PENDING. */
  'runner:stopped': { runnerId: string; handedBack: number };
  /** A runner hit an error it recovered from (database down, a listener threw, ...). */
  'runner:error': { runnerId: string | null; error: EventError; during: string };
  /** A cron schedule enqueued its task for one occurrence. */
  'schedule:enqueued': { name: string; occurrence: Date; task: MaintenanceTask };
}

/** Name of an upkeep event. */
export type UpkeepEventName = keyof UpkeepEventMap;

/** Status values, re-exported for listeners that switch on them. */
export type { TaskStatus };

/**
 * Event types as stored in `task_events.event_type`: the seeds' names, in snake case.
 */
export const TaskEventType = {
  CREATED: 'created',
  STARTED: 'started',
  COMPLETED: 'completed',
  FAILED: 'failed',
  RETRY_SCHEDULED: 'retry_scheduled',
  CANCELLED: 'cancelled',
  PAUSED: 'paused',
  RESUMED: 'resumed',
  RETRIED: 'retried',
  RELEASED: 'released',
  LEASE_EXPIRED: 'lease_expired',
  RESET: 'reset',
  RESOURCE_ACQUIRED: 'resource_acquired',
  RESOURCE_RELEASED: 'resource_released',
  MEMORY_WARNING: 'memory_warning',
  CLEANUP_STARTED: 'cleanup_started',
  CLEANUP_COMPLETED: 'cleanup_completed',
  OUT_OF_MEMORY: 'out_of_memory',
} as const;
export type TaskEventType = (typeof TaskEventType)[keyof typeof TaskEventType];

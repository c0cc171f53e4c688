import type { TaskFailureReason, TaskStatus } from '../core/status';
import type { TaskRunnerInfo, TaskInfo } from '../entities/maintenance-task.entity';

/** A row to insert into `maintenance_tasks`. */
export interface NewTaskRow {
  id: string;
  status: TaskStatus;
  processorType: string;
  processorJson: string;
  delay: number;
  startAt: Date;
  priority: number;
  maxAttempts: number;
  timeoutMs: number | null;
  uniqueKey: string | null;
  dependsOn: string[];
  estimatedMemoryMb: number | null;
  assignedDevice: string | null;
  failureReason?: TaskFailureReason | null;
  info?: TaskInfo | null;
  runnerInfo?: TaskRunnerInfo | null;
  traceContext?: string | null; // W3C traceparent of the enqueuing span
}

/** Column changes applied together with a status change. */
export interface TaskPatch {
  info?: TaskInfo | null;
  runnerInfo?: TaskRunnerInfo | null;
  failureReason?: TaskFailureReason | null;
  lastError?: string | null;
  startAt?: Date;
  delay?: number;
  cursor?: string | null;
  processorJson?: string;
  attempts?: number;
  /** Releases the lease (locked_by, lease_expires_at, control → NULL). */
  releaseLease?: boolean;
  finished?: boolean;
  /** Clears `finished_at` and `last_error` (admin retry). */
  unfinish?: boolean;
  actualMemoryMb?: number | null;
  assignedDevice?: string | null;
  serviceInstanceId?: string | null;
  resourceCleanupCompleted?: boolean;
  control?: 'cancel' | 'pause' | null;
  progressDone?: number | null;
  progressTotal?: number | null;
  priority?: number;
}

/** Conditions a conditional UPDATE checks besides the transition table. */
export interface TransitionGuard {
  /** Only when the task is held by this runner. */
  lockedBy?: string;
  /** Only from these statuses (defaults to every status the table allows to reach the target). */
  from?: readonly TaskStatus[];
  /** Only when the lease ran out before this time (rescue: a renewed lease wins). */
  leaseExpiredBefore?: Date;
  /** Only this claim of the task (its `version` as claimed): a stale attempt cannot write. */
  version?: number;
  /** Only when no admin request (`control`) is pending, so a cancel or pause wins. */
  noControl?: boolean;
}

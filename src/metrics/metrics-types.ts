import type { TaskStatus } from '../core/status';

/** The second seed's `/tasks/metrics` shape, in camelCase. */
export interface UpkeepMetrics {
  /** When the snapshot was taken. */
  generatedAt: Date;
  /** WORKING tasks: total, per processor type and per device. */
  activeTasks: { total: number; byType: Record<string, number>; byDevice: Record<string, number> };
  /** PENDING tasks: total, due now vs scheduled later, per type; and tasks held in this process's runners' local queues. */
  queuedTasks: { total: number; due: number; scheduled: number; byType: Record<string, number>; local: number };
  /** Memory per device (MiB): estimated by running tasks, reserved by pools, and the device's total and free memory. */
  memoryByDevice: Record<string, { estimatedMb: number; poolReservedMb: number; totalMb: number | null; freeMb: number | null }>;
  /** Utilization (0..1) of each registered pool, overall and per device. */
  poolUtilization: Record<string, { utilization: number; byDevice: Record<string, number>; waiting: number; size: number }>;
  /** Mean seconds from due time to start, over tasks started in the last hour (null when none). */
  averageWaitTime: number | null;
  /** Task counts per status. */
  statusCounts: Record<TaskStatus, number>;
}

/** The second seed's `/tasks/{id}/health` shape, in camelCase. */
export interface TaskHealth {
  /** The task. */
  taskId: string;
  /** Its status. */
  status: TaskStatus;
  /** Memory in use (latest sample while running, else the measured peak), MiB. */
  memoryUsageMb: number | null;
  /** Seconds it has run (running) or ran (finished) in its latest attempt. */
  processingTimeS: number | null;
  /** Device it runs or ran on. */
  device: string | null;
  /** Readable warnings: expired lease, past timeout, memory above estimate or near limit, cleanup cut off, retries. */
  warnings: string[];
  /** Attempts started so far. */
  attempts: number;
  /** Attempts the task is allowed. */
  maxAttempts: number;
  /** Progress as reported by the processor. */
  progress: { done: number | null; total: number | null };
}

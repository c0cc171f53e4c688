import type { UpkeepInternals } from '../core/upkeep-internals';
import type { TaskFailureReason } from '../core/status';
import type { JsonValue, MaintenanceTask, TaskInfo } from '../entities/maintenance-task.entity';
import type { EventError } from '../events/event-map';
import type { ServiceLease } from '../pool/types';
import type { TaskQueue } from '../queue/task-queue';
import type { DevicePlacement } from '../resources/device-placement';
import type { TaskErrorHandler } from '../resources/task-error-handler';
import type { TaskTransaction } from '../store/executor';
import type { CompletionRow } from '../store/task-complete';
import type { ClaimLoop } from './claim-loop';
import type { CompletionBatcher } from './completion-batcher';
import type { LeaseClock } from './lease-clock';
import type { LeaseKeeper } from './lease-keeper';
import type { OutcomeWriter } from './outcome-writer';
import type { ProgressWriter } from './progress-writer';
import type { ResourceTracker } from './resource-tracker';
import type { ResolvedRunnerOptions } from './runner-options';
import type { ScheduleTicker } from './schedule-ticker';
import type { RunningTaskContext } from './task-context';
import type { TaskExecution } from './task-execution';

/** Counts of what a runner did, returned by `runDue()` and `runner.stats()`. */
export interface RunnerStats {
  /** Tasks claimed. */
  claimed: number;
  /** Tasks that reached COMPLETED. */
  completed: number;
  /** Tasks that reached ERROR. */
  failed: number;
  /** Failed attempts that were scheduled for a retry. */
  retried: number;
  /** Tasks that ended CANCELLED while this runner held them. */
  cancelled: number;
  /** Tasks paused while running. */
  paused: number;
  /** Tasks handed back to PENDING (shutdown, queue timeout). */
  handedBack: number;
  /** Statements that lost a lock race (deadlock, lock wait timeout) and were run again. */
  lockConflicts: number;
  /** Expired leases of other runners this runner rescued. */
  rescued: number;
}

/** Options of `runner.stop()`. */
export interface StopOptions {
  /** How long in-flight tasks may keep running before they are interrupted and handed back. @defaultValue 30000 */
  graceMs?: number;
}

/** How one attempt ended; the outcome writer records it. @internal */
export type Outcome =
  | { kind: 'completed'; result: JsonValue }
  | { kind: 'failed'; reason: TaskFailureReason; error: EventError & { stack?: string }; retryable: boolean; thrown?: unknown }
  | { kind: 'cancelled'; by: 'admin' | 'processor' }
  | { kind: 'paused' }
  | { kind: 'handed_back' }
  | { kind: 'lease_lost' };

/** A task this runner is running. @internal */
export interface InFlight {
  task: MaintenanceTask;
  ctx: RunningTaskContext;
  startedAt: number;
  done: Promise<void>;
  lastProgressWrite: number;
  progressTimer?: NodeJS.Timeout;
  /** Device the task was placed on (resource tracking), and what it reserves there. */
  device: string | null;
  reservedMb: number;
  /** Memory the processor reported with `ctx.reportMemory`. */
  reportedMemoryMb?: number;
  /** Memory accounting. */
  rssAtStartMb: number;
  peakMemoryMb: number;
  memoryLimitMb?: number;
  warned: boolean;
  leases: Array<ServiceLease<unknown>>;
  /** The transaction of `ctx.transaction`, open until the task's completion joins it. */
  tx?: TaskTransaction;
}

/** A successful result waiting for its batched write. @internal */
export interface PendingCompletion {
  task: MaintenanceTask;
  /** What `info` becomes (see `completedInfo`): the returned object, `{ result }`, or null. */
  info: TaskInfo | null;
  result: JsonValue;
  durationMs: number;
  cleanupDone: boolean;
  progressDone: number | null;
  /** The attempt's latest cursor (stored with the result, so an iteration ends on its last item's). */
  cursor: string | null;
  /** Writes of this result that failed one by one. */
  failures?: number;
}


/**
 * What the runner's pieces share: the runner itself, seen through this interface, so no
 * piece imports the runner. @internal
 */
export interface RunnerCore {
  readonly up: UpkeepInternals;
  readonly options: ResolvedRunnerOptions;
  readonly id: string;
  readonly processorTypes: string[];
  readonly queue: TaskQueue<MaintenanceTask>;
  readonly placement: DevicePlacement | undefined;
  readonly inFlight: Map<string, InFlight>;
  readonly counters: RunnerStats;
  readonly leaseClock: LeaseClock;
  readonly errorHandler: TaskErrorHandler;
  readonly running: boolean;
  readonly stopping: boolean;
  /** A stopping runner gives up on writes the database keeps failing after this time (epoch ms). */
  readonly writeDeadline: number;
  readonly claims: ClaimLoop;
  readonly execution: TaskExecution;
  readonly outcomes: OutcomeWriter;
  readonly batcher: CompletionBatcher;
  readonly leases: LeaseKeeper;
  readonly schedules: ScheduleTicker;
  readonly progress: ProgressWriter;
  readonly resources: ResourceTracker;
  /** Logs and publishes runner:error; `retried`: the caller runs the statement again, so a lock conflict is only counted. */
  reportError(during: string, error: unknown, opts?: { retried?: boolean }): void;
  abortTask(flight: InFlight, action: 'cancel' | 'pause' | 'shutdown' | 'lease_lost'): void;
  dispatch(): void;
  isQuiet(): boolean;
  checkIdle(): void;
  resolveIdle(): void;
}

/** Wait before writing again after `failures` failed writes: 50 ms doubling, at most 5 s. */
export function writeBackoffMs(failures: number): number {
  return Math.min(5000, 25 * 2 ** Math.min(failures, 8));
}

/** The row `completeMany` writes for a result. */
export function toCompletionRow(c: PendingCompletion): CompletionRow {
  return { id: c.task.id, version: c.task.version, info: c.info, actualMemoryMb: c.task.actualMemoryMb, cleanupDone: c.cleanupDone, progressDone: c.progressDone, cursor: c.cursor };
}

/** Resolves after `ms` (does not keep the process alive). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref?.();
  });
}

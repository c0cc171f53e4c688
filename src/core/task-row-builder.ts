import { randomUUID } from 'node:crypto';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import { MaintenanceTaskProcessor } from '../processor/maintenance-task-processor';
import { getProcessorMetadata } from '../processor/processor-metadata';
import { serializeProcessor, validateProcessor } from '../processor/serialization';
import type { NewTaskRow, TaskStore } from '../store/task-store';
import { InvalidArgumentError } from './errors';
import { failureInfo } from './task-info';
import type { UpkeepSettings } from './settings';

/** Options of `createTask` (and of each item of `createTasks`). */
export interface CreateTaskOptions {
  /** Earliest start time. @defaultValue now */
  startAt?: Date;
  /** Start after this many milliseconds (instead of `startAt`). */
  delayMs?: number;
  /** Higher runs first among due tasks. @defaultValue the processor's, else 0 */
  priority?: number;
  /** Attempts before the task ends in ERROR. @defaultValue the processor's, else settings.retry.maxAttempts */
  maxAttempts?: number;
  /** Per-attempt timeout. @defaultValue the processor's, else settings.defaultTimeoutMs */
  timeoutMs?: number;
  /** De-duplication key: when a task with this key exists, it is returned instead of a new one. */
  uniqueKey?: string;
  /** Tasks (or ids) that must COMPLETE before this one runs; if one fails, this one is CANCELLED. */
  dependsOn?: Array<string | Pick<MaintenanceTask, 'id'>>;
  /** Create as INACTIVE (not scheduled until `activateTask`). @defaultValue false */
  inactive?: boolean;
}

const CREATE_KEYS = new Set(['startAt', 'delayMs', 'priority', 'maxAttempts', 'timeoutMs', 'uniqueKey', 'dependsOn', 'inactive']);

/** Builds the row for a processor and options; shared by `Upkeep` and `createMaintenanceTask`. @internal */
export function buildTaskRow(
  processor: MaintenanceTaskProcessor,
  options: CreateTaskOptions,
  now: Date,
  settings: UpkeepSettings,
  where: string,
): NewTaskRow {
  for (const key of Object.keys(options)) {
    if (!CREATE_KEYS.has(key)) throw new InvalidArgumentError(`${where}: unknown option "${key}"`);
  }
  if (!(processor instanceof MaintenanceTaskProcessor)) {
    throw new InvalidArgumentError(`${where}: processor must be an instance of a MaintenanceTaskProcessor subclass (use YourProcessor.create(props))`);
  }
  const meta = getProcessorMetadata(processor.constructor);
  if (!meta) throw new InvalidArgumentError(`${where}: ${processor.constructor.name} has no @Processor(name) decorator`);
  validateProcessor(processor, meta.name);
  const { startAt, delayMs, priority, maxAttempts, timeoutMs, uniqueKey, dependsOn, inactive } = options;
  if (startAt !== undefined && (!(startAt instanceof Date) || Number.isNaN(startAt.getTime()))) {
    throw new InvalidArgumentError(`${where}: startAt must be a valid Date`);
  }
  if (startAt !== undefined && delayMs !== undefined) throw new InvalidArgumentError(`${where}: give startAt or delayMs, not both`);
  intIn(where, 'delayMs', delayMs, 0, 2 ** 31 - 1);
  intIn(where, 'priority', priority, -1_000_000, 1_000_000);
  intIn(where, 'maxAttempts', maxAttempts, 1, 1000);
  intIn(where, 'timeoutMs', timeoutMs, 1, 2 ** 31 - 1);
  if (uniqueKey !== undefined && (typeof uniqueKey !== 'string' || !uniqueKey.length || uniqueKey.length > 255)) {
    throw new InvalidArgumentError(`${where}: uniqueKey must be a string of 1-255 characters`);
  }
  if (dependsOn !== undefined && !Array.isArray(dependsOn)) throw new InvalidArgumentError(`${where}: dependsOn must be an array`);
  const deps = dependsOn?.length ? dependencyIds(dependsOn, where) : [];
  const resources = settings.enableResourceTracking ? processor.resources?.() : undefined;
  if (resources?.memoryMb !== undefined && (!Number.isFinite(resources.memoryMb) || resources.memoryMb < 0)) {
    throw new InvalidArgumentError(`${where}: resources().memoryMb must be a non-negative number`);
  }
  const preferred = resources?.device && resources.device !== 'auto' ? resources.device : undefined;
  const begin = startAt ?? new Date(now.getTime() + (delayMs ?? 0));
  return {
    id: randomUUID(),
    status: inactive ? 'INACTIVE' : 'PENDING',
    processorType: meta.name,
    processorJson: serializeProcessor(processor),
    delay: Math.min(2 ** 31 - 1, Math.max(0, begin.getTime() - now.getTime())), // the column is a 32-bit int; start_at holds the real time
    startAt: begin,
    priority: priority ?? meta.options.priority ?? 0,
    maxAttempts: maxAttempts ?? meta.options.maxAttempts ?? settings.retry.maxAttempts,
    timeoutMs: timeoutMs ?? null,
    uniqueKey: uniqueKey ?? null,
    dependsOn: deps,
    estimatedMemoryMb: resources?.memoryMb !== undefined ? Math.round(resources.memoryMb) : null,
    // The seed assigns a device at creation; 'auto' is decided when the task starts.
    assignedDevice: preferred ?? null,
    ...(preferred ? { runnerInfo: { placement: { device: preferred, reason: 'processor_preference' } } } : {}),
  };
}

/** Throws `InvalidArgumentError` unless `value` is undefined or an integer from `min` to `max`. */
function intIn(where: string, name: string, value: unknown, min: number, max: number): void {
  if (value !== undefined && (!Number.isInteger(value) || (value as number) < min || (value as number) > max)) {
    throw new InvalidArgumentError(`${where}: ${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
  }
}

/** The distinct ids of `dependsOn`, in order; throws `InvalidArgumentError` at an entry that is not a task or task id. */
function dependencyIds(dependsOn: ReadonlyArray<string | Pick<MaintenanceTask, 'id'>>, where: string): string[] {
  const deps = [...new Set(dependsOn.map((d) => (typeof d === 'string' ? d : d?.id)))];
  if (deps.some((d) => typeof d !== 'string' || !d)) throw new InvalidArgumentError(`${where}: dependsOn holds something that is not a task or task id`);
  return deps as string[];
}

/**
 * Checks `dependsOn` ids exist (else `InvalidArgumentError`) and marks rows that depend
 * on an already-failed task CANCELLED with DEPENDENCY_FAILED. @internal
 */
export async function checkDependencies(store: TaskStore, rows: NewTaskRow[]): Promise<void> {
  if (!rows.some(hasDependencies)) return;
  const ids = [...new Set(rows.flatMap((r) => r.dependsOn))];
  const statuses = await store.statusesOf(ids);
  const missing = ids.filter((id) => !statuses.has(id));
  if (missing.length) throw new InvalidArgumentError(`dependsOn: no task has id ${missing.map((m) => JSON.stringify(m)).join(', ')}`);
  for (const row of rows) {
    const failed = row.dependsOn.find((id) => statuses.get(id) === 'ERROR' || statuses.get(id) === 'CANCELLED');
    if (failed) {
      row.status = 'CANCELLED';
      row.failureReason = 'dependency_failed';
      row.info = failureInfo({ name: 'DependencyFailed', message: `Task ${failed} this one depends on had already failed or been cancelled`, code: 'DEPENDENCY_FAILED' }, 0);
    }
  }
}

function hasDependencies(row: NewTaskRow): boolean {
  return row.dependsOn.length > 0;
}

import type { Upkeep } from '../core/upkeep';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import { maskProps, sensitiveKeysOf } from '../processor/sensitive';

/** Sensitive property names of a processor type (none for an unknown type). */
export function sensitiveKeys(upkeep: Upkeep, processorType: string): readonly string[] {
  const registered = upkeep.registry.get(processorType);
  return registered ? sensitiveKeysOf(registered.cls) : [];
}

/** The stored props of a task, masked; the raw text when it is not JSON. */
export function propsOf(upkeep: Upkeep, task: MaintenanceTask): unknown {
  let props: unknown;
  try {
    props = JSON.parse(task.processorJson);
  } catch {
    return { unreadable: true };
  }
  return maskProps(props, sensitiveKeys(upkeep, task.processorType));
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

/**
 * The last error's message without its stack (`last_error` holds the message and then the
 * stack, which is internal and never served): `info.error` while the task stands failed,
 * else the last recorded attempt's message, else `last_error` as written (admin actions).
 */
function lastErrorMessage(task: MaintenanceTask): string | null {
  if (task.status !== 'COMPLETED' && typeof task.info?.error === 'string') return task.info.error;
  const attempts = task.runnerInfo?.attempts;
  if (task.lastError && Array.isArray(attempts) && attempts.length) {
    const last = attempts[attempts.length - 1]!.message;
    if (task.lastError.startsWith(last)) return last;
  }
  return task.lastError;
}

/** A task as the list returns it (no info, no props). */
export function taskSummary(task: MaintenanceTask) {
  return {
    id: task.id,
    status: task.status,
    type: task.processorType,
    priority: task.priority,
    attempts: task.attempts,
    maxAttempts: task.maxAttempts,
    createdAt: iso(task.createdAt),
    updatedAt: iso(task.updatedAt),
    startAt: iso(task.startAt),
    startedAt: iso(task.startedAt),
    finishedAt: iso(task.finishedAt),
    failureReason: task.failureReason,
    lastError: lastErrorMessage(task),
    device: task.assignedDevice,
    uniqueKey: task.uniqueKey,
    progress: { done: task.progressDone, total: task.progressTotal },
    control: task.control,
  };
}

/** A task with everything the detail view shows: props (masked), info, what the runner recorded, error history, attempts. */
export function taskDetail(upkeep: Upkeep, task: MaintenanceTask) {
  const info = task.info;
  const failed = task.status !== 'COMPLETED' && typeof info?.error === 'string';
  const attempts = task.runnerInfo?.attempts;
  return {
    ...taskSummary(task),
    props: propsOf(upkeep, task),
    // The seed's shape: the returned object on COMPLETED, { error, errorName, errorCode?, attempt } after a failure.
    info,
    // Attempts, placement and out-of-memory decisions (runner_info).
    runnerInfo: task.runnerInfo,
    errorHistory: Array.isArray(attempts) ? attempts : [],
    lastErrorDetail: failed ? { name: info!.errorName ?? 'Error', message: info!.error as string, code: info!.errorCode ?? null, attempt: info!.attempt ?? null } : null,
    delay: task.delay,
    timeoutMs: task.timeoutMs,
    lockedBy: task.lockedBy,
    leaseExpiresAt: iso(task.leaseExpiresAt),
    cursor: task.cursor,
    dependsOnCount: task.dependsOnCount,
    estimatedMemoryMb: task.estimatedMemoryMb,
    actualMemoryMb: task.actualMemoryMb,
    serviceInstanceId: task.serviceInstanceId,
    resourceCleanupCompleted: task.resourceCleanupCompleted,
    version: task.version,
  };
}

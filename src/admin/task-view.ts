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
    lastError: task.lastError,
    device: task.assignedDevice,
    uniqueKey: task.uniqueKey,
    progress: { done: task.progressDone, total: task.progressTotal },
    control: task.control,
  };
}

/** A task with everything the detail view shows: props (masked), info, error history, attempts. */
export function taskDetail(upkeep: Upkeep, task: MaintenanceTask) {
  const info = task.info ? { ...task.info } : null;
  if (info?.error) {
    const { stack: _stack, ...error } = info.error; // a stack is internal: never served
    info.error = error;
  }
  return {
    ...taskSummary(task),
    props: propsOf(upkeep, task),
    info,
    errorHistory: Array.isArray(info?.attempts) ? info.attempts : [],
    lastErrorDetail: info?.error ? { name: info.error.name, message: info.error.message, code: info.error.code ?? null, attempt: info.error.attempt ?? null } : null,
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

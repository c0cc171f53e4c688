import type { TaskStatus } from '../core/status';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import type { TaskStore } from '../store/task-store';
import type { TaskHealth } from './metrics-types';
import { eventsOfTypes, latestSample, pendingByTypeAndDue, recentStarts, workingByTypeAndDevice } from '../store/metrics-store';

/** Database side of metrics and health: grouped counts, wait times, samples, events. @internal */
export async function taskAggregates(store: TaskStore, now: Date) {
  const c = store.db.codec;
  const working = { rows: await workingByTypeAndDevice(store.db) };
  const pending = { rows: await pendingByTypeAndDue(store.db, now) };
  const waits = { rows: await recentStarts(store.db, new Date(now.getTime() - 3_600_000), 10000) };
  let total = 0;
  let count = 0;
  for (const row of waits.rows) {
    const dueAt = c.readDate(row.s);
    const began = c.readDate(row.b);
    if (!dueAt || !began) continue;
    total += Math.max(0, began.getTime() - dueAt.getTime());
    count++;
  }
  return {
    working: working.rows.map((r) => ({ type: r.pt as string, device: (r.dev as string | null) ?? 'unassigned', n: c.readInt(r.n) ?? 0, memoryMb: c.readInt(r.mem) ?? 0 })),
    pending: pending.rows.map((r) => ({ type: r.pt as string, due: Number(r.due) === 1, n: c.readInt(r.n) ?? 0 })),
    averageWaitTime: count ? total / count / 1000 : null,
  };
}

/** Builds the health report of one task from its row, latest sample and warning events. @internal */
export async function taskHealthOf(store: TaskStore, task: MaintenanceTask, now: Date, defaultTimeoutMs: number): Promise<TaskHealth> {
  const c = store.db.codec;
  const sample = await latestSample(store.db, task.id);
  const events = { rows: await eventsOfTypes(store.db, task.id, ['memory_warning', 'cleanup_completed', 'out_of_memory']) };
  const sampledMb = sample ? c.readInt(sample.m) : null;
  const memoryUsageMb = task.status === 'WORKING' ? (sampledMb ?? task.actualMemoryMb) : (task.actualMemoryMb ?? sampledMb);
  const end = task.status === 'WORKING' ? now : task.finishedAt;
  const processingTimeS = task.startedAt && end ? Math.max(0, (end.getTime() - task.startedAt.getTime()) / 1000) : null;
  const warnings: string[] = [];
  const status: TaskStatus = task.status;
  if (status === 'WORKING') {
    if (task.leaseExpiresAt && task.leaseExpiresAt < now) {
      warnings.push(`lease expired at ${task.leaseExpiresAt.toISOString()}: runner ${task.lockedBy ?? '?'} may have died; it will be rescued`);
    }
    const timeoutMs = task.timeoutMs ?? defaultTimeoutMs;
    if (processingTimeS !== null && processingTimeS * 1000 > timeoutMs) warnings.push(`running for ${processingTimeS.toFixed(1)} s, past its timeout of ${timeoutMs / 1000} s`);
    if (task.control) warnings.push(`${task.control} requested; waiting for the processor to reach a safe point`);
  }
  if (memoryUsageMb !== null && task.estimatedMemoryMb !== null && memoryUsageMb > task.estimatedMemoryMb) {
    warnings.push(`uses ${memoryUsageMb} MiB, above its estimate of ${task.estimatedMemoryMb} MiB`);
  }
  for (const row of events.rows) {
    const details = c.readJson<Record<string, unknown>>(row.details) ?? {};
    if (row.e === 'memory_warning') warnings.push(`memory warning: ${details.usedMb} of ${details.limitMb} MiB`);
    if (row.e === 'cleanup_completed' && details.timedOut) warnings.push('cleanup hooks were cut off at the cleanup timeout');
    if (row.e === 'cleanup_completed' && Array.isArray(details.errors) && details.errors.length) {
      warnings.push(`cleanup hooks failed: ${(details.errors as Array<{ message: string }>).map((e) => e.message).join('; ')}`);
    }
    if (row.e === 'out_of_memory') warnings.push(`ran out of memory on ${details.device ?? 'its device'} (attempt ${(details.memory as Record<string, unknown> | undefined)?.attempt ?? '?'})`);
  }
  if ((status === 'COMPLETED' || status === 'ERROR' || status === 'CANCELLED') && task.startedAt && !task.resourceCleanupCompleted) {
    warnings.push('resource cleanup did not complete');
  }
  if (task.attempts > 1 && status !== 'COMPLETED') warnings.push(`attempt ${task.attempts} of ${task.maxAttempts}; last error: ${task.lastError ?? 'unknown'}`);
  return {
    taskId: task.id,
    status,
    memoryUsageMb,
    processingTimeS,
    device: task.assignedDevice ?? (sample?.d as string | null) ?? null,
    warnings,
    attempts: task.attempts,
    maxAttempts: task.maxAttempts,
    progress: { done: task.progressDone, total: task.progressTotal },
  };
}

import type { TaskStatus } from '../core/status';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import type { TaskStore } from '../store/task-store';
import type { TaskHealth } from './metrics-types';

type Row = Record<string, unknown>;

/** Database side of metrics and health: grouped counts, wait times, samples, events. @internal */
export async function taskAggregates(store: TaskStore, now: Date) {
  const c = store.db.codec;
  const t = c.id('maintenance_tasks');
  const working = await store.db.query<Row>(
    `SELECT ${c.id('processor_type')} AS pt, ${c.id('assigned_device')} AS dev, COUNT(*) AS n, SUM(${c.id('estimated_memory_mb')}) AS mem
     FROM ${t} WHERE ${c.id('status')} = 'WORKING' GROUP BY ${c.id('processor_type')}, ${c.id('assigned_device')}`,
  );
  const pending = await store.db.query<Row>(
    `SELECT x.pt AS pt, x.due AS due, COUNT(*) AS n FROM (
       SELECT ${c.id('processor_type')} AS pt, CASE WHEN ${c.id('start_at')} <= ? THEN 1 ELSE 0 END AS due
       FROM ${t} WHERE ${c.id('status')} = 'PENDING') x
     GROUP BY x.pt, x.due`,
    [c.date(now)],
  );
  const waits = await store.db.query<Row>(
    `SELECT ${c.id('start_at')} AS s, ${c.id('started_at')} AS b FROM ${t} WHERE ${c.id('started_at')} >= ? ORDER BY ${c.id('started_at')} DESC LIMIT 10000`,
    [c.date(new Date(now.getTime() - 3_600_000))],
  );
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
  const latest = await store.db.query<Row>(
    `SELECT ${c.id('memory_usage_mb')} AS m, ${c.id('device')} AS d FROM ${c.id('task_metrics')} WHERE ${c.id('task_id')} = ? ORDER BY ${c.id('timestamp')} DESC, ${c.id('id')} DESC LIMIT 1`,
    [task.id],
  );
  const events = await store.db.query<Row>(
    `SELECT ${c.id('event_type')} AS e, ${c.id('details')} AS details FROM ${c.id('task_events')}
     WHERE ${c.id('task_id')} = ? AND ${c.id('event_type')} IN ('memory_warning', 'cleanup_completed', 'out_of_memory') ORDER BY ${c.id('id')}`,
    [task.id],
  );
  const sample = latest.rows[0];
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

import { MaintenanceTask, type TaskRunnerInfo, type TaskInfo } from '../entities/maintenance-task.entity';
import type { SqlCodec } from './dialect';

/** Turns a raw `maintenance_tasks` row from any dialect into a `MaintenanceTask`. */
export function rowToTask(row: Record<string, unknown>, codec: SqlCodec): MaintenanceTask {
  const task = new MaintenanceTask();
  task.id = row.id as string;
  task.status = row.status as MaintenanceTask['status'];
  task.processorType = row.processor_type as string;
  task.processorJson = row.processor_json as string;
  task.delay = codec.readInt(row.delay) ?? 0;
  task.info = safeJson<TaskInfo>(row.info, codec);
  task.createdAt = codec.readDate(row.created_at)!;
  task.updatedAt = codec.readDate(row.updated_at)!;
  task.startAt = codec.readDate(row.start_at)!;
  task.priority = codec.readInt(row.priority) ?? 0;
  task.attempts = codec.readInt(row.attempts) ?? 0;
  task.maxAttempts = codec.readInt(row.max_attempts) ?? 0;
  task.timeoutMs = codec.readInt(row.timeout_ms);
  task.failureReason = (row.failure_reason as MaintenanceTask['failureReason']) ?? null;
  task.lastError = (row.last_error as string | null) ?? null;
  task.lockedBy = (row.locked_by as string | null) ?? null;
  task.leaseExpiresAt = codec.readDate(row.lease_expires_at);
  task.control = (row.control as MaintenanceTask['control']) ?? null;
  task.startedAt = codec.readDate(row.started_at);
  task.finishedAt = codec.readDate(row.finished_at);
  task.progressDone = codec.readInt(row.progress_done);
  task.progressTotal = codec.readInt(row.progress_total);
  task.cursor = (row.cursor as string | null) ?? null;
  task.uniqueKey = (row.unique_key as string | null) ?? null;
  task.dependsOnCount = codec.readInt(row.depends_on_count) ?? 0;
  task.estimatedMemoryMb = codec.readInt(row.estimated_memory_mb);
  task.actualMemoryMb = codec.readInt(row.actual_memory_mb);
  task.assignedDevice = (row.assigned_device as string | null) ?? null;
  task.serviceInstanceId = (row.service_instance_id as string | null) ?? null;
  task.resourceCleanupCompleted = codec.readBool(row.resource_cleanup_completed);
  task.runnerInfo = safeJson<TaskRunnerInfo>(row.runner_info, codec);
  task.traceContext = (row.trace_context as string | null | undefined) ?? null;
  task.version = codec.readInt(row.version) ?? 1;
  return task;
}

/** A corrupted `info` column must not make a task unreadable: keep the raw text instead. */
function safeJson<T>(value: unknown, codec: SqlCodec): T | null {
  try {
    return codec.readJson<T>(value);
  } catch {
    return { unreadableInfo: String(value) } as T;
  }
}

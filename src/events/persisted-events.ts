import type { JsonValue } from '../entities/maintenance-task.entity';
import type { EventRow } from './event-recorder';
import { TaskEventType, type UpkeepEventMap, type UpkeepEventName } from './event-map';

type Persist<E extends UpkeepEventName> = (p: UpkeepEventMap[E]) => { taskId: string; type: TaskEventType; details: Record<string, JsonValue> };

const iso = (d: Date | undefined | null) => (d ? d.toISOString() : null);

/**
 * Which events are stored in `task_events`, under which seed-style type, with which
 * details. Progress and stage changes are not stored (the task row and `task_metrics`
 * hold them); runner events have no task and are not stored either.
 */
const PERSISTED: { [E in UpkeepEventName]?: Persist<E> } = {
  'task:created': ({ task }) => ({
    taskId: task.id,
    type: TaskEventType.CREATED,
    details: { processorType: task.processorType, status: task.status, startAt: iso(task.startAt), priority: task.priority },
  }),
  'task:started': ({ task, runnerId, attempt }) => ({ taskId: task.id, type: TaskEventType.STARTED, details: { runnerId, attempt, device: task.assignedDevice } }),
  'task:completed': ({ task, durationMs }) => ({ taskId: task.id, type: TaskEventType.COMPLETED, details: { durationMs, attempt: task.attempts } }),
  'task:failed': ({ task, error, reason, willRetry, retryAt }) => ({
    taskId: task.id,
    type: willRetry ? TaskEventType.RETRY_SCHEDULED : TaskEventType.FAILED,
    details: { reason, error: { name: error.name, message: error.message, ...(error.code ? { code: error.code } : {}) }, attempt: task.attempts, willRetry, retryAt: iso(retryAt) },
  }),
  'task:cancelled': ({ task, reason, by }) => ({ taskId: task.id, type: TaskEventType.CANCELLED, details: { reason, by } }),
  'task:paused': ({ task }) => ({ taskId: task.id, type: TaskEventType.PAUSED, details: { cursor: task.cursor } }),
  'task:resumed': ({ task }) => ({ taskId: task.id, type: TaskEventType.RESUMED, details: {} }),
  'task:retried': ({ task }) => ({ taskId: task.id, type: TaskEventType.RETRIED, details: {} }),
  'task:reset': ({ task }) => ({ taskId: task.id, type: TaskEventType.RESET, details: {} }),
  'task:released': ({ task, reason }) => ({ taskId: task.id, type: TaskEventType.RELEASED, details: { reason } }),
  'task:lease-expired': ({ task, previousRunner, requeued }) => ({
    taskId: task.id,
    type: TaskEventType.LEASE_EXPIRED,
    details: { previousRunner, requeued, attempt: task.attempts },
  }),
  'resource:acquired': ({ taskId, device, instanceId, memoryMb }) => ({ taskId, type: TaskEventType.RESOURCE_ACQUIRED, details: { device, instanceId, memoryMb } }),
  'resource:released': ({ taskId, device, instanceId }) => ({ taskId, type: TaskEventType.RESOURCE_RELEASED, details: { device, instanceId } }),
  'memory:warning': ({ taskId, device, usedMb, limitMb }) => ({ taskId, type: TaskEventType.MEMORY_WARNING, details: { device, usedMb, limitMb } }),
  'cleanup:started': ({ taskId, hooks }) => ({ taskId, type: TaskEventType.CLEANUP_STARTED, details: { hooks } }),
  'cleanup:completed': ({ taskId, durationMs, timedOut, errors }) => ({
    taskId,
    type: TaskEventType.CLEANUP_COMPLETED,
    details: { durationMs, timedOut, errors: errors.map((e) => ({ name: e.name, message: e.message })) },
  }),
  'task:oom': ({ taskId, device, memory, action, batchFactor }) => ({ taskId, type: TaskEventType.OUT_OF_MEMORY, details: { device, memory, action, batchFactor } }),
};

/** The `task_events` row for an event, or null when that event is not stored. */
export function toEventRow<E extends UpkeepEventName>(event: E, payload: UpkeepEventMap[E], at: Date): EventRow | null {
  const persist = PERSISTED[event] as Persist<E> | undefined;
  if (!persist) return null;
  const { taskId, type, details } = persist(payload);
  return { taskId, eventType: type, timestamp: at, details };
}

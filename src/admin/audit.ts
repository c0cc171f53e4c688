import type { Upkeep } from '../core/upkeep';
import type { JsonValue } from '../entities/maintenance-task.entity';
import { maskProps } from '../processor/sensitive';
import { AUDIT_EVENT_TYPE, insertEvent } from '../store/admin-event-queries';
import { sensitiveKeys } from './task-view';
import { dbOf } from './upkeep-access';

/** One audited action, as stored in `task_events` (type `audit`). */
export interface AuditEntry {
  /** Who acted: at least an id (null when the principal has none). */
  actor: { id: string | null; [key: string]: JsonValue };
  /** What was done: `create`, `start`, `cancel`, `pause`, `resume`, `retry`, `reset`, or `bulk:<action>`. */
  action: string;
  /** Task concerned (null for actions without one). */
  taskId: string | null;
  /** Status before the action (null when the task did not exist yet). */
  statusBefore: string | null;
  /** Status right after it (null when the action failed before changing anything). */
  statusAfter: string | null;
  /** Request id (the `x-request-id` header, or one generated). */
  requestId: string | null;
  /** How the action ended: `ok`, or the error code. */
  outcome?: string;
  /** Where it came from. @defaultValue 'api' */
  source?: 'api' | 'facade';
  /** Extra fields (device, props of a create: masked by `@Sensitive()`). */
  extra?: Record<string, JsonValue>;
  /** Processor type, for masking the props in `extra`. */
  processorType?: string;
}

/**
 * Stores an audit entry in `task_events` at once (never buffered). Called by the admin API
 * for every mutating request, and meant for the facade's admin actions when an actor is
 * given. Props in `extra.props` are masked per the processor's `@Sensitive()` properties.
 */
export async function recordAudit(upkeep: Upkeep, entry: AuditEntry): Promise<void> {
  const extra = { ...(entry.extra ?? {}) };
  if ('props' in extra && entry.processorType) extra.props = maskProps(extra.props, sensitiveKeys(upkeep, entry.processorType)) as JsonValue;
  const details: Record<string, JsonValue> = {
    actor: entry.actor,
    action: entry.action,
    statusBefore: entry.statusBefore,
    statusAfter: entry.statusAfter,
    requestId: entry.requestId,
    outcome: entry.outcome ?? 'ok',
    source: entry.source ?? 'api',
    ...(entry.processorType ? { processorType: entry.processorType } : {}),
    ...extra,
  };
  await insertEvent(dbOf(upkeep), { taskId: entry.taskId, type: AUDIT_EVENT_TYPE, timestamp: upkeep.internals.now(), details });
}

/** Who acts through the facade, for {@link auditAction}. */
export interface AuditActor {
  /** The actor stored in the entry. */
  actor: AuditEntry['actor'];
  /** Request id to store with it. @defaultValue null */
  requestId?: string | null;
}

/**
 * Runs one admin action of the facade and stores its audit entry (`source: 'facade'`): reads
 * the status before, runs `act`, stores before/after. Meant for the facade's `cancelTask`,
 * `pauseTask`, `resumeTask`, `retryTask`, `activateTask` (and `resetStuckTasks`, once per task
 * reset) when the caller passes an actor; nothing is stored when `act` throws.
 */
export async function auditAction<T extends { id: string; status: string; processorType: string }>(
  upkeep: Upkeep,
  who: AuditActor,
  action: string,
  taskId: string,
  act: () => Promise<T>,
): Promise<T> {
  const before = await upkeep.getTask(taskId);
  const after = await act();
  await recordAudit(upkeep, {
    actor: who.actor,
    action,
    taskId,
    statusBefore: before?.status ?? null,
    statusAfter: after.status,
    requestId: who.requestId ?? null,
    source: 'facade',
    processorType: after.processorType,
  });
  return after;
}

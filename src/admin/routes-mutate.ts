import { IllegalTransitionError, InvalidArgumentError, isUpkeepError, ProcessorValidationError, type PropertyProblem } from '../core/errors';
import type { CreateTaskOptions } from '../core/upkeep';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import type { MaintenanceTaskProcessor, ProcessorClass } from '../processor/maintenance-task-processor';
import { idsMatching, resetWorkingTask, startTaskNow } from '../store/admin-task-queries';
import type { AdminPermission } from './admin-types';
import { recordAudit } from './audit';
import { actorOf } from './auth';
import { jsonResponse } from './error-mapping';
import { propsSchemaOf } from './props-schema';
import type { RouteContext } from './route-context';
import { filterOf } from './routes-read';
import { taskDetail } from './task-view';
import { dbOf, publishReset, publishResumed, wakeRunners } from './upkeep-access';
import { badRequest } from './validate';

/** Admin actions on one task, as routes and bulk actions name them. */
export const TASK_ACTIONS = ['start', 'cancel', 'pause', 'resume', 'retry', 'reset'] as const;
export type TaskAction = (typeof TASK_ACTIONS)[number];

export const ACTION_PERMISSION: Record<TaskAction, AdminPermission> = {
  start: 'tasks:start',
  cancel: 'tasks:cancel',
  pause: 'tasks:pause',
  resume: 'tasks:resume',
  retry: 'tasks:retry',
  reset: 'tasks:reset',
};

async function mustGet(ctx: RouteContext, id: string): Promise<MaintenanceTask> {
  return ctx.task(id);
}

async function start(ctx: RouteContext, task: MaintenanceTask, body: { device?: string }): Promise<MaintenanceTask> {
  if (task.status !== 'INACTIVE' && task.status !== 'PAUSED') {
    throw new IllegalTransitionError(task.id, task.status, 'PENDING', 'only INACTIVE or PAUSED tasks can be started');
  }
  if (body.device !== undefined && !ctx.upkeep.settings.enableResourceTracking) {
    // Without resource tracking runners place nothing, so a pin would be silently ignored.
    throw badRequest('Invalid start', [{ property: 'body.device', message: 'needs settings.enableResourceTracking (runners ignore devices without it)' }]);
  }
  const now = ctx.upkeep.internals.now();
  if (!(await startTaskNow(dbOf(ctx.upkeep), task, now, body.device))) {
    const current = await ctx.upkeep.getTask(task.id);
    throw new IllegalTransitionError(task.id, current?.status ?? task.status, 'PENDING', 'the task changed meanwhile');
  }
  const updated = (await ctx.upkeep.getTask(task.id))!;
  if (task.status === 'PAUSED') publishResumed(ctx.upkeep, updated);
  await wakeRunners(ctx.upkeep);
  return updated;
}

async function reset(ctx: RouteContext, task: MaintenanceTask, body: { force?: boolean }): Promise<MaintenanceTask> {
  if (task.status !== 'WORKING') throw new IllegalTransitionError(task.id, task.status, 'PENDING', 'only WORKING (stuck) tasks can be reset');
  const now = ctx.upkeep.internals.now();
  if (!(await resetWorkingTask(dbOf(ctx.upkeep), task, now, body.force === true))) {
    const current = (await ctx.upkeep.getTask(task.id)) ?? task;
    const live = current.status === 'WORKING' && current.leaseExpiresAt !== null && current.leaseExpiresAt >= now;
    throw new IllegalTransitionError(task.id, current.status, 'PENDING', live ? `its lease is live (held by ${current.lockedBy ?? '?'}); send { "force": true } to reset it anyway` : 'the task changed meanwhile');
  }
  const updated = (await ctx.upkeep.getTask(task.id))!;
  publishReset(ctx.upkeep, updated);
  await wakeRunners(ctx.upkeep);
  return updated;
}

/** Runs one action on a loaded task (permission already checked); returns the task after it. */
async function perform(ctx: RouteContext, action: TaskAction, task: MaintenanceTask, body: Record<string, unknown>): Promise<MaintenanceTask> {
  switch (action) {
    case 'start':
      return start(ctx, task, body as { device?: string });
    case 'reset':
      return reset(ctx, task, body as { force?: boolean });
    case 'cancel':
      return ctx.upkeep.cancelTask(task.id);
    case 'pause':
      return ctx.upkeep.pauseTask(task.id);
    case 'resume':
      return ctx.upkeep.resumeTask(task.id);
    case 'retry':
      return ctx.upkeep.retryTask(task.id);
  }
}

async function audited(ctx: RouteContext, action: string, before: MaintenanceTask, after: MaintenanceTask, extra: Record<string, unknown> = {}): Promise<void> {
  await recordAudit(ctx.upkeep, {
    actor: actorOf(ctx.principal),
    action,
    taskId: before.id,
    statusBefore: before.status,
    statusAfter: after.status,
    requestId: ctx.requestId,
    processorType: before.processorType,
    extra: extra as never,
  });
}

/** `POST /tasks/:id/<action>`. */
export function actionHandler(action: TaskAction) {
  return async (ctx: RouteContext) => {
    const task = await mustGet(ctx, ctx.params.id!);
    const body = (ctx.body ?? {}) as Record<string, unknown>;
    const after = await perform(ctx, action, task, body);
    await audited(ctx, action, task, after, action === 'start' && body.device ? { device: body.device as string } : action === 'reset' && body.force ? { force: true } : {});
    return jsonResponse({ task: taskDetail(ctx.upkeep, after), pending: after.control !== null && after.status === 'WORKING' ? after.control : null });
  };
}

/** `POST /tasks/bulk/:action`: for `{ ids }` or `{ filter }`, bounded, one result per task. */
export async function bulkAction(ctx: RouteContext) {
  const action = ctx.params.action as TaskAction;
  if (!TASK_ACTIONS.includes(action)) throw badRequest('Invalid bulk action', [{ property: 'path.action', message: `must be one of ${TASK_ACTIONS.join(', ')}` }]);
  const body = ctx.body as { ids?: string[]; filter?: Record<string, unknown>; device?: string; force?: boolean };
  if ((body.ids === undefined) === (body.filter === undefined)) throw badRequest('Invalid bulk request', [{ property: 'body', message: 'must hold exactly one of ids or filter' }]);
  await ctx.allow(ACTION_PERMISSION[action]);
  const max = ctx.options.maxBulk;
  let ids: string[];
  let truncated = false;
  if (body.ids) {
    if (body.ids.length > max) throw badRequest('Invalid bulk request', [{ property: 'body.ids', message: `has more than ${max} ids (maxBulk)` }]);
    ids = [...new Set(body.ids)];
  } else {
    ids = await idsMatching(dbOf(ctx.upkeep), filterOf(body.filter!), max + 1);
    truncated = ids.length > max;
    if (truncated) ids = ids.slice(0, max);
  }
  const extra = { ...(body.device ? { device: body.device } : {}), ...(body.force ? { force: body.force } : {}) };
  const results: Array<{ id: string; ok: boolean; status: string | null; error?: { code: string; message: string } }> = [];
  for (const id of ids) {
    try {
      const task = await ctx.task(id);
      await ctx.allow(ACTION_PERMISSION[action], task);
      const after = await perform(ctx, action, task, extra);
      await audited(ctx, `bulk:${action}`, task, after, extra);
      results.push({ id, ok: true, status: after.status });
    } catch (error) {
      if (!isUpkeepError(error)) {
        // An unexpected failure (a database error) on one task: reported for it, logged, and the others still run.
        ctx.reportError(error);
        const current = await ctx.upkeep.getTask(id).then((t) => t?.status ?? null, () => null);
        results.push({ id, ok: false, status: current, error: { code: 'INTERNAL', message: `Internal error (request ${ctx.requestId})` } });
        continue;
      }
      const current = error.code === 'TASK_NOT_FOUND' ? null : ((await ctx.upkeep.getTask(id))?.status ?? null);
      results.push({ id, ok: false, status: current, error: { code: error.code, message: error.message } });
    }
  }
  return jsonResponse({ action, results, succeeded: results.filter((r) => r.ok).length, failed: results.filter((r) => !r.ok).length, truncated });
}

/** `POST /tasks`: a processor type and JSON props, validated with the processor's rules. */
export async function createTask(ctx: RouteContext) {
  const body = ctx.body as { type: string; props?: Record<string, unknown>; options?: Record<string, unknown> };
  const registered = ctx.upkeep.registry.get(body.type);
  if (!registered) throw badRequest('Invalid task', [{ property: 'body.type', message: `is not a registered processor type (known: ${ctx.upkeep.registry.names().join(', ') || 'none'})` }]);
  const props = body.props ?? {};
  const schema = propsSchemaOf(registered.cls);
  const known = Object.keys(schema.properties as object);
  const unknown: PropertyProblem[] = known.length
    ? Object.keys(props).filter((k) => !known.includes(k)).map((k) => ({ property: k, constraints: { whitelist: `property ${k} should not exist` } }))
    : [];
  let processor: MaintenanceTaskProcessor | undefined;
  try {
    processor = (registered.cls as ProcessorClass & { create(p: object): MaintenanceTaskProcessor }).create(props);
  } catch (error) {
    if (error instanceof ProcessorValidationError) throw new ProcessorValidationError(body.type, [...unknown, ...error.problems]);
    throw error;
  }
  if (unknown.length) throw new ProcessorValidationError(body.type, unknown);
  const o = body.options ?? {};
  const options: CreateTaskOptions = {};
  if (o.startAt !== undefined) options.startAt = new Date(o.startAt as string);
  for (const key of ['delayMs', 'priority', 'maxAttempts', 'timeoutMs', 'uniqueKey', 'dependsOn', 'inactive'] as const) {
    if (o[key] !== undefined) (options as Record<string, unknown>)[key] = o[key];
  }
  let task: MaintenanceTask;
  try {
    task = await ctx.upkeep.createTask(processor, options);
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw new InvalidArgumentError(error.message.replace(/^createTasks\(items\[0\]\): /, 'options: '));
    throw error;
  }
  await recordAudit(ctx.upkeep, {
    actor: actorOf(ctx.principal),
    action: 'create',
    taskId: task.id,
    statusBefore: null,
    statusAfter: task.status,
    requestId: ctx.requestId,
    processorType: body.type,
    extra: { props: props as never, options: (body.options ?? {}) as never },
  });
  return jsonResponse(taskDetail(ctx.upkeep, task), 201, { location: `tasks/${task.id}` });
}

import { InvalidArgumentError } from '../core/errors';
import type { TaskStatus } from '../core/status';
import type { UpkeepMetrics } from '../metrics/metrics-types';
import { toPrometheus } from '../metrics/prometheus';
import { eventsBefore, metricSamples, AUDIT_EVENT_TYPE, type AdminEventRow } from '../store/admin-event-queries';
import { countTasksCapped, dependenciesOf, listTasksPage, type AdminTaskCursor, type AdminTaskFilter } from '../store/admin-task-queries';
import { maskProps } from '../processor/sensitive';
import type { AdminPermission } from './admin-types';
import { ALL_PERMISSIONS, requirePermission } from './auth';
import { jsonResponse } from './error-mapping';
import { propsSchemaOf } from './props-schema';
import type { RouteContext } from './route-context';
import { taskDetail, taskSummary, sensitiveKeys } from './task-view';
import { dbOf, listRunners } from './upkeep-access';

/** Totals are counted up to this many rows; above, `total` is this and `totalCapped` is true. */
export const TOTAL_CAP = 1_000;

/** Encodes a page position as an opaque string. */
export function encodeCursor(c: AdminTaskCursor): string {
  return Buffer.from(JSON.stringify([c.createdAt.toISOString(), c.id])).toString('base64url');
}

/** What {@link encodeCursor} writes: a four-digit-year ISO instant (every database stores it) and a task id. */
const CURSOR_AT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const CURSOR_ID = /^[\w.:-]{1,36}$/;

function decodeCursor(text: string): AdminTaskCursor {
  try {
    const [at, id] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as [unknown, unknown];
    if (typeof at !== 'string' || typeof id !== 'string' || !CURSOR_AT.test(at) || !CURSOR_ID.test(id)) throw new Error('bad');
    const createdAt = new Date(at);
    if (Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== at) throw new Error('bad');
    return { createdAt, id };
  } catch {
    throw new InvalidArgumentError('query.cursor is not a cursor this API returned');
  }
}

/** The filter of the list (and of bulk actions) from validated query values or a bulk body's `filter`. */
export function filterOf(q: Record<string, unknown>): AdminTaskFilter {
  const filter: AdminTaskFilter = {};
  if (q.status) filter.status = q.status as TaskStatus[];
  if (q.type) filter.type = q.type as string[];
  if (q.device !== undefined) filter.device = q.device as string;
  if (q.uniqueKey !== undefined) filter.uniqueKey = q.uniqueKey as string;
  if (q.from) filter.from = q.from instanceof Date ? q.from : new Date(q.from as string);
  if (q.to) filter.to = q.to instanceof Date ? q.to : new Date(q.to as string);
  if (q.finishedFrom) filter.finishedFrom = q.finishedFrom instanceof Date ? q.finishedFrom : new Date(q.finishedFrom as string);
  if (q.finishedTo) filter.finishedTo = q.finishedTo instanceof Date ? q.finishedTo : new Date(q.finishedTo as string);
  if (q.search !== undefined) filter.idPrefix = q.search as string;
  return filter;
}

export async function listTasks(ctx: RouteContext) {
  const filter = filterOf(ctx.query);
  const limit = (ctx.query.limit as number | undefined) ?? 50;
  const cursor = ctx.query.cursor ? decodeCursor(ctx.query.cursor as string) : undefined;
  const db = dbOf(ctx.upkeep);
  const [page, total] = await Promise.all([listTasksPage(db, filter, cursor, limit), ctx.query.count === false ? Promise.resolve(null) : countTasksCapped(db, filter, TOTAL_CAP)]);
  const last = page.tasks[page.tasks.length - 1];
  return jsonResponse({
    items: page.tasks.map(taskSummary),
    nextCursor: page.more && last ? encodeCursor({ createdAt: last.createdAt, id: last.id }) : null,
    total: total === null ? null : Math.min(total, TOTAL_CAP),
    totalCapped: total !== null && total > TOTAL_CAP,
  });
}

export async function getTask(ctx: RouteContext) {
  const task = await ctx.task(ctx.params.id!);
  // Dependencies both ways (ids, at most 100 each), for the detail page.
  return jsonResponse({ ...taskDetail(ctx.upkeep, task), ...(await dependenciesOf(dbOf(ctx.upkeep), task.id)) });
}

/** Masks sensitive props carried in stored audit details (`props` of a create). */
export function eventView(ctx: RouteContext, e: AdminEventRow, processorType?: string) {
  let details = e.details;
  const type = processorType ?? (details?.processorType as string | undefined) ?? (details?.type as string | undefined);
  if (details && 'props' in details && type) details = { ...details, props: maskProps(details.props, sensitiveKeys(ctx.upkeep, type)) as never };
  return { id: e.id, taskId: e.taskId, type: e.type, timestamp: e.timestamp.toISOString(), details };
}

export async function taskEvents(ctx: RouteContext) {
  const task = await ctx.task(ctx.params.id!);
  const limit = (ctx.query.limit as number | undefined) ?? 200;
  const rows = await eventsBefore(dbOf(ctx.upkeep), { taskId: task.id, limit, ...(ctx.query.before !== undefined ? { beforeId: ctx.query.before as number } : {}) });
  const items = rows.map((e) => eventView(ctx, e, task.processorType));
  return jsonResponse({ items, nextBefore: rows.length === limit ? rows[rows.length - 1]!.id : null });
}

export async function taskMetrics(ctx: RouteContext) {
  const task = await ctx.task(ctx.params.id!);
  const samples = await metricSamples(dbOf(ctx.upkeep), task.id, (ctx.query.limit as number | undefined) ?? 500);
  return jsonResponse({ taskId: task.id, items: samples.map((s) => ({ ...s, timestamp: s.timestamp.toISOString() })) });
}

export async function taskHealth(ctx: RouteContext) {
  const task = await ctx.task(ctx.params.id!);
  const h = await ctx.upkeep.taskHealth(task.id);
  return jsonResponse({
    status: h.status,
    memory_usage_mb: h.memoryUsageMb,
    processing_time_s: h.processingTimeS,
    device: h.device,
    warnings: h.warnings,
    task_id: h.taskId,
    attempts: h.attempts,
    max_attempts: h.maxAttempts,
    progress: h.progress,
  });
}

/** The second seed's metrics shape, snake_case throughout. */
export function seedMetrics(m: UpkeepMetrics) {
  return {
    active_tasks: { total: m.activeTasks.total, by_type: m.activeTasks.byType, by_device: m.activeTasks.byDevice },
    queued_tasks: { total: m.queuedTasks.total, due: m.queuedTasks.due, scheduled: m.queuedTasks.scheduled, by_type: m.queuedTasks.byType, local: m.queuedTasks.local },
    memory_by_device: Object.fromEntries(
      Object.entries(m.memoryByDevice).map(([d, v]) => [d, { estimated_mb: v.estimatedMb, pool_reserved_mb: v.poolReservedMb, total_mb: v.totalMb, free_mb: v.freeMb }]),
    ),
    pool_utilization: Object.fromEntries(
      Object.entries(m.poolUtilization).map(([p, v]) => [p, { utilization: v.utilization, by_device: v.byDevice, waiting: v.waiting, size: v.size }]),
    ),
    average_wait_time: m.averageWaitTime,
    status_counts: m.statusCounts,
    generated_at: m.generatedAt.toISOString(),
  };
}

const wantsText = (ctx: RouteContext) => {
  const accept = ctx.request.headers ? Object.entries(ctx.request.headers).find(([k]) => k.toLowerCase() === 'accept')?.[1] : undefined;
  const a = (Array.isArray(accept) ? accept.join(',') : (accept ?? '')).toLowerCase();
  return a.includes('text/plain') && !a.includes('application/json');
};

export async function metrics(ctx: RouteContext) {
  const m = await ctx.upkeep.metrics();
  if (wantsText(ctx)) return { status: 200, headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }, body: toPrometheus(m) };
  return jsonResponse(seedMetrics(m));
}

export async function prometheus(ctx: RouteContext) {
  return { status: 200, headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }, body: await ctx.upkeep.prometheus() };
}

export async function processors(ctx: RouteContext) {
  const items = ctx.upkeep.registry.names().sort().map((name) => {
    const { cls, meta } = ctx.upkeep.registry.get(name)!;
    return { type: name, className: cls.name, options: meta.options, propsSchema: propsSchemaOf(cls), sensitive: sensitiveKeys(ctx.upkeep, name) };
  });
  return jsonResponse({ items });
}

export async function runners(ctx: RouteContext) {
  const list = await listRunners(ctx.upkeep);
  if (list === null) return jsonResponse({ items: [], registry: false });
  const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : (v ?? null));
  return jsonResponse({ items: list.map((r) => ({ ...r, lastHeartbeatAt: iso(r.lastHeartbeatAt) })), registry: true });
}

export async function schedules(ctx: RouteContext) {
  const now = ctx.upkeep.internals.now();
  const items = ctx.upkeep.internals.schedules.map((s) => {
    const next = s.cron.nextRun(now);
    return { name: s.def.name, cron: s.def.cron, timezone: s.def.timezone ?? null, catchUp: s.catchUp, nextOccurrence: next ? next.toISOString() : null };
  });
  return jsonResponse({ items });
}

export async function audit(ctx: RouteContext) {
  const limit = (ctx.query.limit as number | undefined) ?? 100;
  const rows = await eventsBefore(dbOf(ctx.upkeep), {
    type: AUDIT_EVENT_TYPE,
    limit,
    ...(ctx.query.before !== undefined ? { beforeId: ctx.query.before as number } : {}),
    ...(ctx.query.taskId !== undefined ? { taskId: ctx.query.taskId as string } : {}),
  });
  return jsonResponse({ items: rows.map((e) => eventView(ctx, e)), nextBefore: rows.length === limit ? rows[rows.length - 1]!.id : null });
}


/**
 * `GET /me`: who the caller is and every permission the policy grants it (asked without a
 * task, so a policy that decides per task answers for tasks in general), for clients such
 * as the dashboard to offer only the actions allowed.
 */
export async function me(ctx: RouteContext) {
  const p = ctx.principal;
  const text = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : null);
  const permissions: AdminPermission[] = [];
  for (const permission of ALL_PERMISSIONS) {
    const granted = await requirePermission(ctx.policy, p, permission).then(() => true, () => false);
    if (granted) permissions.push(permission);
  }
  return jsonResponse({
    principal: { id: text(p.id), name: text(p.name), admin: p.admin === true, roles: Array.isArray(p.roles) ? p.roles.map(String) : [] },
    permissions,
  });
}

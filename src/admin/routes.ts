import { ALL_TASK_STATUSES } from '../core/status';
import { serveDashboard } from './dashboard-assets';
import { eventStream, MAX_EVENT_ID } from './event-stream';
import { openApiDocument } from './openapi';
import type { JsonSchema } from './props-schema';
import type { AdminRoute } from './route-context';
import { actionHandler, bulkAction, createTask, TASK_ACTIONS, type TaskAction } from './routes-mutate';
import * as read from './routes-read';
import type { QueryParam } from './validate';

// --------------------------------------------------------------- shared schemas

const str = (extra: JsonSchema = {}): JsonSchema => ({ type: 'string', ...extra });
const int = (extra: JsonSchema = {}): JsonSchema => ({ type: 'integer', ...extra });
const nullable = (s: JsonSchema): JsonSchema => ({ ...s, type: [s.type as string, 'null'] });
const obj = (properties: Record<string, JsonSchema>, required: string[] = [], extra: JsonSchema = {}): JsonSchema => ({ type: 'object', properties, ...(required.length ? { required } : {}), ...extra });
const list = (items: JsonSchema, more: Record<string, JsonSchema> = {}) => obj({ items: { type: 'array', items }, ...more }, ['items']);

/** Device ids: `cpu`, `cuda:0`, ... */
const DEVICE = /^[A-Za-z0-9][A-Za-z0-9:._-]{0,49}$/;
const ID_CHARS = /^[0-9A-Fa-f-]{1,36}$/;

const TASK_SUMMARY = obj({
  id: str(), status: str({ enum: ALL_TASK_STATUSES }), type: str(), priority: int(), attempts: int(), maxAttempts: int(),
  createdAt: str({ format: 'date-time' }), updatedAt: str({ format: 'date-time' }), startAt: str({ format: 'date-time' }),
  startedAt: nullable(str({ format: 'date-time' })), finishedAt: nullable(str({ format: 'date-time' })), failureReason: nullable(str()),
  lastError: nullable(str()), device: nullable(str()), uniqueKey: nullable(str()), progress: obj({ done: nullable(int()), total: nullable(int()) }), control: nullable(str()),
});
const TASK_DETAIL: JsonSchema = { ...TASK_SUMMARY, properties: { ...(TASK_SUMMARY.properties as object), props: { type: 'object', description: 'Stored props; @Sensitive() ones masked' }, info: { type: ['object', 'null'], description: "The outcome: the processor's returned object on COMPLETED (a non-object result as { result }), { error, errorName, errorCode?, attempt } after a failure (error: the message)" }, runnerInfo: { type: ['object', 'null'], description: 'What the runner recorded: attempts, placement, oom' }, errorHistory: { type: 'array', description: 'Every failed attempt (runnerInfo.attempts)' }, lastErrorDetail: { type: ['object', 'null'] }, attempts: int() } };
const EVENT = obj({ id: int(), taskId: nullable(str()), type: str(), timestamp: str({ format: 'date-time' }), details: { type: ['object', 'null'] } });
const ACTION_RESULT = obj({ task: TASK_DETAIL, pending: nullable(str({ enum: ['cancel', 'pause', null] as never })) });

const FILTER_QUERY: Record<string, QueryParam> = {
  status: { type: 'list', enum: ALL_TASK_STATUSES, description: 'Statuses, comma-separated' },
  type: { type: 'list', maxLength: 255, description: 'Processor types, comma-separated' },
  device: { type: 'string', maxLength: 50, pattern: DEVICE, description: 'Assigned device (`cpu`, `cuda:0`)' },
  uniqueKey: { type: 'string', maxLength: 255, description: 'Unique key, exactly' },
  from: { type: 'date-time', description: 'Created at or after' },
  to: { type: 'date-time', description: 'Created before' },
  finishedFrom: { type: 'date-time', description: 'Finished at or after' },
  finishedTo: { type: 'date-time', description: 'Finished before' },
  search: { type: 'string', pattern: ID_CHARS, description: 'Task id or id prefix (hex digits and dashes)' },
};
const FILTER_BODY = obj(
  {
    status: { type: 'array', items: str({ enum: ALL_TASK_STATUSES }), maxItems: 10 },
    type: { type: 'array', items: str({ maxLength: 255 }), maxItems: 50 },
    device: str({ maxLength: 50, pattern: DEVICE.source }),
    uniqueKey: str({ maxLength: 255 }),
    from: str({ format: 'date-time' }), to: str({ format: 'date-time' }),
    finishedFrom: str({ format: 'date-time' }), finishedTo: str({ format: 'date-time' }),
    search: str({ pattern: ID_CHARS.source }),
  },
  [],
  { additionalProperties: false },
);
const TASK_ID = str({ maxLength: 36, minLength: 1 });

const BODY_OF: Record<TaskAction, JsonSchema | undefined> = {
  start: obj({ device: str({ maxLength: 50, pattern: DEVICE.source, description: 'Pin to this device: the task runs there or fails with device_unavailable' }) }, [], { additionalProperties: false }),
  reset: obj({ force: { type: 'boolean', description: 'Reset even though the lease is live' } }, [], { additionalProperties: false }),
  cancel: obj({}, [], { additionalProperties: false }),
  pause: obj({}, [], { additionalProperties: false }),
  resume: obj({}, [], { additionalProperties: false }),
  retry: obj({}, [], { additionalProperties: false }),
};
const SUMMARY_OF: Record<TaskAction, string> = {
  start: 'Make an INACTIVE or PAUSED task due now, optionally pinned to a device',
  cancel: 'Cancel a task (a WORKING task stops at its next safe point)',
  pause: 'Pause a PENDING task, or a WORKING one at its next safe point',
  resume: 'Resume a PAUSED task (due now, keeping its cursor)',
  retry: 'Re-queue an ERROR or CANCELLED task with fresh attempts',
  reset: 'Reset a stuck WORKING task (expired lease, or any with force) to PENDING',
};

// --------------------------------------------------------------- the table

/**
 * Every admin route: name, method, path pattern, permission, schemas and handler. The
 * handler, `GET /openapi.json` and docs/admin-api.md are all built from this one table.
 * Order matters where patterns overlap: literal segments come before `:id`.
 */
export const ADMIN_ROUTES: readonly AdminRoute[] = [
  {
    name: 'listTasks', method: 'GET', path: '/tasks', permission: 'tasks:read', summary: 'List tasks, newest first, with filters and cursor pagination',
    query: { ...FILTER_QUERY, limit: { type: 'integer', min: 1, max: 500, description: 'Page size (1-500, default 50)' }, cursor: { type: 'string', maxLength: 200, description: 'nextCursor of the previous page' }, count: { type: 'boolean', description: 'false skips the total' } },
    response: obj({ items: { type: 'array', items: TASK_SUMMARY }, nextCursor: nullable(str()), total: nullable(int({ description: `Matching tasks, counted up to ${read.TOTAL_CAP}` })), totalCapped: { type: 'boolean' } }),
    errors: [400], handler: read.listTasks,
  },
  {
    name: 'createTask', method: 'POST', path: '/tasks', permission: 'tasks:create', summary: "Create a task from a processor type and JSON props (validated with the processor's class-validator rules)", mutating: true,
    body: obj(
      {
        type: str({ maxLength: 255, description: 'Processor type (`@Processor(name)`)' }),
        props: { type: 'object', description: "The processor's props" },
        options: obj(
          {
            startAt: str({ format: 'date-time' }), delayMs: int({ minimum: 0 }), priority: int(), maxAttempts: int({ minimum: 1, maximum: 1000 }),
            timeoutMs: int({ minimum: 1 }), uniqueKey: str({ maxLength: 255, minLength: 1 }), dependsOn: { type: 'array', items: TASK_ID, maxItems: 1000 }, inactive: { type: 'boolean' },
          },
          [],
          { additionalProperties: false },
        ),
      },
      ['type'],
      { additionalProperties: false },
    ),
    response: TASK_DETAIL, errors: [400, 413, 415], handler: createTask,
  },
  { name: 'taskMetricsSnapshot', method: 'GET', path: '/tasks/metrics', permission: 'metrics:read', summary: "The second seed's metrics (Prometheus text with Accept: text/plain)", produces: ['text/plain'], response: obj({ active_tasks: { type: 'object' }, queued_tasks: { type: 'object' }, memory_by_device: { type: 'object' }, pool_utilization: { type: 'object' }, average_wait_time: { type: ['number', 'null'] } }, ['active_tasks', 'queued_tasks', 'memory_by_device', 'pool_utilization', 'average_wait_time']), errors: [], handler: read.metrics },
  {
    name: 'bulkAction', method: 'POST', path: '/tasks/bulk/:action', permission: 'tasks:bulk', summary: `Run start, cancel, pause, resume, retry or reset on { ids } or { filter } (bounded by maxBulk); one result per task`, mutating: true,
    body: obj({ ids: { type: 'array', items: TASK_ID, minItems: 1 }, filter: FILTER_BODY, device: str({ maxLength: 50, pattern: DEVICE.source }), force: { type: 'boolean' } }, [], { additionalProperties: false }),
    response: obj({ action: str(), results: { type: 'array', items: obj({ id: str(), ok: { type: 'boolean' }, status: nullable(str()), error: obj({ code: str(), message: str() }) }) }, succeeded: int(), failed: int(), truncated: { type: 'boolean' } }),
    errors: [400, 413, 415], handler: bulkAction,
  },
  { name: 'getTask', method: 'GET', path: '/tasks/:id', permission: 'tasks:read', summary: 'One task: props (masked), info, error history, attempts', response: TASK_DETAIL, errors: [404], handler: read.getTask },
  { name: 'taskEvents', method: 'GET', path: '/tasks/:id/events', permission: 'tasks:read', summary: "A task's timeline (audit entries included), newest first", query: { limit: { type: 'integer', min: 1, max: 1000, description: 'At most this many (default 200)' }, before: { type: 'integer', min: 1, max: MAX_EVENT_ID, description: 'Only events with a smaller id (nextBefore)' } }, response: list(EVENT, { nextBefore: nullable(int()) }), errors: [400, 404], handler: read.taskEvents },
  { name: 'taskMetricSamples', method: 'GET', path: '/tasks/:id/metrics', permission: 'tasks:read', summary: "A task's resource samples (task_metrics), newest first", query: { limit: { type: 'integer', min: 1, max: 5000, description: 'At most this many (default 500)' } }, response: list(obj({ id: int(), timestamp: str({ format: 'date-time' }), memoryUsageMb: nullable(int()), device: nullable(str()), processingStage: nullable(str()) })), errors: [400, 404], handler: read.taskMetrics },
  { name: 'taskHealth', method: 'GET', path: '/tasks/:id/health', permission: 'tasks:read', summary: "The second seed's task health", response: obj({ status: str(), memory_usage_mb: nullable(int()), processing_time_s: { type: ['number', 'null'] }, device: nullable(str()), warnings: { type: 'array', items: str() } }, ['status', 'memory_usage_mb', 'processing_time_s', 'device', 'warnings']), errors: [404], handler: read.taskHealth },
  ...TASK_ACTIONS.map(
    (action): AdminRoute => ({
      name: `${action}Task`, method: 'POST', path: `/tasks/:id/${action}`, permission: `tasks:${action}`, summary: SUMMARY_OF[action], mutating: true,
      body: BODY_OF[action], response: ACTION_RESULT, errors: [400, 404, 409, 413, 415], handler: actionHandler(action),
    }),
  ),
  { name: 'prometheusMetrics', method: 'GET', path: '/metrics', permission: 'metrics:read', summary: 'Metrics in the Prometheus text format', produces: ['text/plain'], response: str(), errors: [], handler: read.prometheus },
  { name: 'listProcessors', method: 'GET', path: '/processors', permission: 'processors:read', summary: 'Registered processors with a JSON Schema of their props (from class-validator metadata)', response: list(obj({ type: str(), className: str(), options: { type: 'object' }, propsSchema: { type: 'object' }, sensitive: { type: 'array', items: str() } })), errors: [], handler: read.processors },
  { name: 'listRunners', method: 'GET', path: '/runners', permission: 'runners:read', summary: 'Runners alive now (id, host, pid, concurrency, in-flight, last heartbeat)', response: list({ type: 'object' }, { registry: { type: 'boolean' } }), errors: [], handler: read.runners },
  { name: 'listSchedules', method: 'GET', path: '/schedules', permission: 'schedules:read', summary: 'Cron schedules with their next occurrence', response: list(obj({ name: str(), cron: str(), timezone: nullable(str()), catchUp: str(), nextOccurrence: nullable(str({ format: 'date-time' })) })), errors: [], handler: read.schedules },
  { name: 'listAudit', method: 'GET', path: '/audit', permission: 'audit:read', summary: 'Audit entries of every admin action, newest first', query: { limit: { type: 'integer', min: 1, max: 1000, description: 'At most this many (default 100)' }, before: { type: 'integer', min: 1, max: MAX_EVENT_ID, description: 'Only entries with a smaller id (nextBefore)' }, taskId: { type: 'string', maxLength: 36, description: 'Only this task' } }, response: list(EVENT, { nextBefore: nullable(int()) }), errors: [400], handler: read.audit },
  { name: 'eventStream', method: 'GET', path: '/events', permission: 'events:read', summary: 'Server-Sent Events of lifecycle, audit and progress events (all tasks or ?taskId=); Last-Event-ID resumes', produces: ['text/event-stream'], query: { taskId: { type: 'string', maxLength: 36, description: 'Only this task' }, after: { type: 'integer', min: 0, max: MAX_EVENT_ID, description: 'Start after this event id (like Last-Event-ID)' }, progress: { type: 'boolean', description: 'false leaves progress events out' } }, response: str(), errors: [400, 404], handler: eventStream },
  { name: 'me', method: 'GET', path: '/me', permission: null, summary: 'The caller (id, name, admin, roles) and every permission the policy grants it', response: obj({ principal: obj({ id: nullable(str()), name: nullable(str()), admin: { type: 'boolean' }, roles: { type: 'array', items: str() } }), permissions: { type: 'array', items: str() } }, ['principal', 'permissions']), errors: [], handler: read.me },
  { name: 'openapi', method: 'GET', path: '/openapi.json', permission: 'openapi:read', summary: 'This API as an OpenAPI 3.1 document', response: { type: 'object' }, errors: [], handler: async (ctx) => ({ status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: openApiDocument(ADMIN_ROUTES, ctx.request.mountPath ?? '') }) },
  { name: 'dashboard', method: 'GET', path: '/dashboard', permission: 'dashboard:read', summary: 'The dashboard (HTML)', produces: ['text/html'], response: str(), errors: [], handler: (ctx) => serveDashboard('', ctx.request.mountPath ?? '') },
  { name: 'dashboardAsset', method: 'GET', path: '/dashboard/*', permission: 'dashboard:read', summary: 'Dashboard assets and client routes', produces: ['text/html', 'text/javascript', 'text/css'], response: str(), errors: [404], handler: (ctx) => serveDashboard(ctx.params['*'] ?? '', ctx.request.mountPath ?? '') },
];

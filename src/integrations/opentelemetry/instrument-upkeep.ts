import { metrics, SpanKind, SpanStatusCode, trace, type Attributes, type MeterProvider, type Span, type TracerProvider } from '@opentelemetry/api';
import { InvalidArgumentError } from '../../core/errors';
import type { Upkeep } from '../../core/upkeep';
import type { MaintenanceTask } from '../../entities/maintenance-task.entity';
import { contextFromTraceContext, currentTraceContext } from './trace-context';

/** Options of {@link instrumentUpkeep}. */
export interface InstrumentUpkeepOptions {
  /** Where spans go. @defaultValue the global tracer provider (`trace.getTracerProvider()`) */
  tracerProvider?: TracerProvider;
  /** Where metrics go. @defaultValue the global meter provider (`metrics.getMeterProvider()`) */
  meterProvider?: MeterProvider;
  /**
   * Reads the enqueuing trace context (a W3C `traceparent`) of a task. @defaultValue the task's
   * stored `traceContext` column (filled by `createTask` while instrumented)
   */
  getTraceContext?: (task: MaintenanceTask) => string | null | undefined;
  /** Turns spans off (metrics only). @defaultValue true */
  traces?: boolean;
  /** Turns metrics off (spans only). @defaultValue true */
  metrics?: boolean;
}

/** What {@link instrumentUpkeep} returns. */
export interface UpkeepInstrumentation {
  /** Stops listening; spans of attempts still running are ended with outcome `uninstrumented`. */
  remove(): void;
}

const SCOPE = 'upkeep';
const OPTION_KEYS = new Set(['tracerProvider', 'meterProvider', 'getTraceContext', 'traces', 'metrics']);

/** Attribute names on spans and metric points. */
export const UpkeepAttributes = {
  TASK_ID: 'upkeep.task.id',
  TASK_TYPE: 'upkeep.task.type',
  ATTEMPT: 'upkeep.task.attempt',
  DEVICE: 'upkeep.task.device',
  OUTCOME: 'upkeep.task.outcome',
  FAILURE_REASON: 'upkeep.task.failure_reason',
  WILL_RETRY: 'upkeep.task.will_retry',
  RUNNER_ID: 'upkeep.runner.id',
} as const;

/**
 * Traces and measures an `Upkeep` through OpenTelemetry (optional peer `@opentelemetry/api`):
 * one CONSUMER span per attempt, from `task:started` to its end (completed, failed,
 * cancelled, paused, released, lease-expired), with the task's id, type, attempt, device and
 * outcome, whose parent is the span that enqueued the task (its stored `traceparent`); and
 * counters and histograms through the meter. While instrumented, `createTask` stores the
 * active trace context with each task (`currentTraceContext()`).
 */
export function instrumentUpkeep(upkeep: Upkeep, options: InstrumentUpkeepOptions = {}): UpkeepInstrumentation {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('instrumentUpkeep(upkeep, options): options must be an object');
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) throw new InvalidArgumentError(`instrumentUpkeep: unknown option "${key}"`);
  if (!upkeep?.events || typeof upkeep.events.on !== 'function') throw new InvalidArgumentError('instrumentUpkeep(upkeep): upkeep must be an Upkeep');
  const tracer = options.traces === false ? undefined : (options.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE);
  const meter = options.metrics === false ? undefined : (options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE);
  const readContext = options.getTraceContext ?? ((task: MaintenanceTask) => task.traceContext);

  const completed = meter?.createCounter('upkeep.tasks.completed', { description: 'Tasks completed.', unit: '{task}' });
  const failed = meter?.createCounter('upkeep.tasks.failed', { description: 'Failed attempts, by failure reason and whether a retry follows.', unit: '{attempt}' });
  const retried = meter?.createCounter('upkeep.tasks.retried', { description: 'Retries scheduled by backoff or requested by an admin.', unit: '{task}' });
  const rescued = meter?.createCounter('upkeep.tasks.rescued', { description: 'Tasks whose lease expired (runner died), requeued or failed.', unit: '{task}' });
  const duration = meter?.createHistogram('upkeep.task.duration', { description: 'Run time of an attempt.', unit: 's' });
  const wait = meter?.createHistogram('upkeep.task.wait', { description: 'Time from a task being due to its attempt starting.', unit: 's' });

  const open = new Map<string, { span?: Span; began: number }>();
  const base = (task: MaintenanceTask): Attributes => ({ [UpkeepAttributes.TASK_TYPE]: task.processorType });
  const finish = (task: MaintenanceTask, outcome: string, extra: Attributes = {}, error?: { name: string; message: string }, reportedMs?: number) => {
    const entry = open.get(task.id);
    open.delete(task.id);
    const ms = reportedMs ?? (entry ? Date.now() - entry.began : undefined);
    if (ms !== undefined) duration?.record(Math.max(0, ms) / 1000, { ...base(task), [UpkeepAttributes.OUTCOME]: outcome });
    const span = entry?.span;
    if (!span) return;
    span.setAttributes({ [UpkeepAttributes.OUTCOME]: outcome, [UpkeepAttributes.DEVICE]: task.assignedDevice ?? 'none', ...extra });
    if (error) {
      span.recordException({ name: error.name, message: error.message });
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    } else if (outcome === 'completed') span.setStatus({ code: SpanStatusCode.OK });
    span.end();
  };

  const listeners = {
    'task:started': ({ task, runnerId, attempt }) => {
      const span = tracer?.startSpan(
        `upkeep.task ${task.processorType}`,
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            [UpkeepAttributes.TASK_ID]: task.id,
            [UpkeepAttributes.TASK_TYPE]: task.processorType,
            [UpkeepAttributes.ATTEMPT]: attempt,
            [UpkeepAttributes.DEVICE]: task.assignedDevice ?? 'none',
            [UpkeepAttributes.RUNNER_ID]: runnerId,
          },
        },
        contextFromTraceContext(readContext(task)),
      );
      open.set(task.id, { span, began: Date.now() });
      if (task.startedAt && task.startAt) wait?.record(Math.max(0, task.startedAt.getTime() - task.startAt.getTime()) / 1000, base(task));
    },
    'task:completed': ({ task, durationMs }) => {
      completed?.add(1, base(task));
      finish(task, 'completed', {}, undefined, durationMs);
    },
    'task:failed': ({ task, error, reason, willRetry }) => {
      failed?.add(1, { ...base(task), [UpkeepAttributes.FAILURE_REASON]: reason, [UpkeepAttributes.WILL_RETRY]: willRetry });
      if (willRetry) retried?.add(1, { ...base(task), 'upkeep.retry.by': 'backoff' });
      finish(task, 'failed', { [UpkeepAttributes.FAILURE_REASON]: reason, [UpkeepAttributes.WILL_RETRY]: willRetry }, error);
    },
    'task:retried': ({ task }) => retried?.add(1, { ...base(task), 'upkeep.retry.by': 'admin' }),
    'task:cancelled': ({ task, reason }) => finish(task, 'cancelled', { [UpkeepAttributes.FAILURE_REASON]: reason }),
    'task:paused': ({ task }) => finish(task, 'paused'),
    'task:released': ({ task, reason }) => finish(task, 'released', { 'upkeep.release.reason': reason }),
    'task:lease-expired': ({ task, requeued }) => {
      rescued?.add(1, { ...base(task), 'upkeep.rescue.outcome': requeued ? 'requeued' : 'failed' });
      finish(task, 'lease-expired', { 'upkeep.rescue.outcome': requeued ? 'requeued' : 'failed' }, { name: 'LeaseExpired', message: 'the lease expired: the runner holding the task stopped renewing it' });
    },
  } satisfies { [E in Parameters<Upkeep['events']['on']>[0]]?: Parameters<typeof upkeep.events.on<E>>[1] };
  for (const [event, listener] of Object.entries(listeners)) upkeep.events.on(event as never, listener as never);

  // createTask stores the active trace context with each task (column trace_context).
  const internals = upkeep.internals;
  const previous = internals.currentTraceContext;
  internals.currentTraceContext = () => currentTraceContext();

  return {
    remove() {
      for (const [event, listener] of Object.entries(listeners)) upkeep.events.off(event as never, listener as never);
      for (const [, entry] of open) {
        entry.span?.setAttribute(UpkeepAttributes.OUTCOME, 'uninstrumented');
        entry.span?.end();
      }
      open.clear();
      internals.currentTraceContext = previous;
    },
  };
}

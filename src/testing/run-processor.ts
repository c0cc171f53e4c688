import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { InvalidArgumentError, TaskTimeoutError } from '../core/errors';
import { toUpkeepLogger, type HostLogger, type UpkeepLogger } from '../core/logger';
import { MaintenanceTask, type TaskInfo } from '../entities/maintenance-task.entity';
import { completedInfo } from '../core/task-info';
import { MaintenanceTaskProcessor, type ProcessorClass, type ProcessorProps } from '../processor/maintenance-task-processor';
import { getProcessorMetadata } from '../processor/processor-metadata';
import { instantiateProcessor, parseProcessorJson, serializeProcessor, validateProcessor } from '../processor/serialization';
import type { ServiceLease } from '../pool/types';
import { toStorableResult } from '../runner/storable-result';
import { RunningTaskContext, type ContextHooks } from '../runner/task-context';

/** Options of {@link runProcessor}. */
export interface RunProcessorOptions {
  /** What the processor gets as `ctx.services`. @defaultValue {} */
  services?: Record<string, unknown>;
  /** Aborting it aborts `ctx.signal` with the same reason (simulates cancel, pause or shutdown). */
  signal?: AbortSignal;
  /** `ctx.dataSource`; reading it without one throws a clear error. */
  dataSource?: DataSource;
  /** Also receives every `ctx.logger` line (they are recorded in `logs` either way). */
  logger?: HostLogger | UpkeepLogger;
  /** `ctx.attempt` (and `task.attempts`). @defaultValue 1 */
  attempt?: number;
  /** `ctx.maxAttempts`. @defaultValue 3 */
  maxAttempts?: number;
  /** `ctx.device`. @defaultValue 'cpu' */
  device?: string | null;
  /** `ctx.cursor`: a cursor stored by an earlier attempt. @defaultValue null */
  cursor?: string | null;
  /** Aborts `ctx.signal` with a `TaskTimeoutError` after this many milliseconds. Unset: no timeout. */
  timeoutMs?: number;
  /** Called on every `ctx.progress(done, total)`, e.g. to abort `signal` at a given point. */
  onProgress?: (done: number, total: number | null) => void;
  /** Fields of the `MaintenanceTask` handed to `process()` (id, progressDone, ...). */
  task?: Partial<MaintenanceTask>;
}

/** What one {@link runProcessor} call observed. */
export interface RunProcessorResult<R> {
  /** What `process()` returned. */
  result: R;
  /**
   * `task.info` as the runner would store it on COMPLETED: the returned object as JSON (`Date`
   * as ISO text), a non-object result as `{ result }`, nothing as `null`. Throws like the
   * runner if it cannot be stored.
   */
  info: TaskInfo | null;
  /** Every `ctx.progress(done, total)` call. */
  progress: Array<{ done: number; total: number | null }>;
  /** The last cursor saved with `ctx.saveCursor` (else the starting cursor). */
  cursor: string | null;
  /** Every cursor saved, in order. */
  cursors: string[];
  /** Every `ctx.stage(name)`. */
  stages: string[];
  /** Every `ctx.logger` line with its bindings merged into `meta`. */
  logs: Array<{ level: 'debug' | 'info' | 'warn' | 'error'; message: string; meta: Record<string, unknown> }>;
  /** Every `ctx.reportMemory(mb)`. */
  memoryReportsMb: number[];
  /** Errors thrown by cleanup hooks (`ctx.onCleanup`, `processor.cleanup`). */
  cleanupErrors: unknown[];
  /** The processor as rebuilt from its JSON (what the runner would have run). */
  processor: MaintenanceTaskProcessor;
  /** The task object `process()` got. */
  task: MaintenanceTask;
}

/**
 * Runs one processor without a runner or a database: its props go through the same JSON
 * round trip and validation as a stored task, `process()` gets a real `TaskContext`
 * (signal, progress, cursor, stages, cleanup hooks, `acquire` from a pool, a temp dir),
 * cleanup hooks run afterwards whatever the outcome, and what the processor reported is
 * returned. A processor that throws makes the returned promise reject with that error
 * (after its cleanup ran).
 *
 * ```ts
 * const { result, progress } = await runProcessor(UserVersionUpgradeProcessor, { userIds: ['u1'] }, { services: { users } });
 * ```
 */
export function runProcessor<P extends MaintenanceTaskProcessor>(
  processor: P,
  options?: RunProcessorOptions,
): Promise<RunProcessorResult<Awaited<ReturnType<P['process']>>>>;
export function runProcessor<P extends MaintenanceTaskProcessor>(
  cls: ProcessorClass<P>,
  props: ProcessorProps<P>,
  options?: RunProcessorOptions,
): Promise<RunProcessorResult<Awaited<ReturnType<P['process']>>>>;
export async function runProcessor(
  target: MaintenanceTaskProcessor | ProcessorClass,
  propsOrOptions?: object,
  maybeOptions?: RunProcessorOptions,
): Promise<RunProcessorResult<unknown>> {
  let given: MaintenanceTaskProcessor;
  let options: RunProcessorOptions;
  if (typeof target === 'function') {
    given = (target as unknown as { create(props: object): MaintenanceTaskProcessor }).create((propsOrOptions ?? {}) as object);
    options = maybeOptions ?? {};
  } else if (target instanceof MaintenanceTaskProcessor) {
    given = target;
    options = (propsOrOptions as RunProcessorOptions | undefined) ?? {};
  } else {
    throw new InvalidArgumentError('runProcessor(processor): give a processor instance (from YourProcessor.create(props)) or a processor class and its props');
  }
  const meta = getProcessorMetadata(given.constructor);
  if (!meta) throw new InvalidArgumentError(`runProcessor: ${given.constructor.name} has no @Processor(name) decorator`);
  // The runner rebuilds processors from processor_json: do the same so props JSON cannot carry show up here.
  const json = serializeProcessor(given);
  const processor = instantiateProcessor(given.constructor as new () => MaintenanceTaskProcessor, parseProcessorJson(json));
  validateProcessor(processor, meta.name);

  const now = new Date();
  const task = Object.assign(new MaintenanceTask(), {
    id: randomUUID(),
    status: 'WORKING',
    processorType: meta.name,
    processorJson: json,
    delay: 0,
    info: null,
    createdAt: now,
    updatedAt: now,
    startAt: now,
    startedAt: now,
    finishedAt: null,
    priority: 0,
    attempts: options.attempt ?? 1,
    maxAttempts: options.maxAttempts ?? 3,
    timeoutMs: options.timeoutMs ?? null,
    failureReason: null,
    lastError: null,
    lockedBy: 'run-processor',
    leaseExpiresAt: null,
    control: null,
    progressDone: null,
    progressTotal: null,
    cursor: options.cursor ?? null,
    uniqueKey: null,
    dependsOnCount: 0,
    estimatedMemoryMb: null,
    actualMemoryMb: null,
    assignedDevice: options.device === undefined ? 'cpu' : options.device,
    serviceInstanceId: null,
    resourceCleanupCompleted: false,
    version: 1,
    ...options.task,
  } satisfies Partial<MaintenanceTask>);

  const observed: Omit<RunProcessorResult<unknown>, 'result' | 'info' | 'processor' | 'task' | 'cursor'> = { progress: [], cursors: [], stages: [], logs: [], memoryReportsMb: [], cleanupErrors: [] };
  const forward = options.logger ? toUpkeepLogger(options.logger as HostLogger) : undefined;
  const recorder = (bindings: Record<string, unknown>): UpkeepLogger => {
    const at = (level: 'debug' | 'info' | 'warn' | 'error') => (message: string, extra?: Record<string, unknown>) => {
      observed.logs.push({ level, message, meta: { ...bindings, ...extra } });
      forward?.[level](message, { ...bindings, ...extra });
    };
    return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (more) => recorder({ ...bindings, ...more }) };
  };
  const noDataSource = new Proxy({} as DataSource, {
    get(_target, key) {
      if (key === 'then') return undefined;
      throw new InvalidArgumentError(`runProcessor: the processor used ctx.dataSource.${String(key)}, but no dataSource was given (runProcessor(..., { dataSource }))`);
    },
  });
  const leases: Array<ServiceLease<unknown>> = [];
  let ctx!: RunningTaskContext;
  const hooks: ContextHooks & { transaction<T>(fn: (manager: EntityManager) => Promise<T>): Promise<T> } = {
    onProgress: (done, total) => {
      observed.progress.push({ done, total });
      options.onProgress?.(done, total);
    },
    onCursor: (cursor) => observed.cursors.push(cursor),
    onStage: (stage) => observed.stages.push(stage),
    heartbeat: async () => undefined,
    acquire: async (pool, acquireOptions = {}) => {
      const lease = await pool.acquire({ device: 'auto', ...acquireOptions, signal: acquireOptions.signal ?? ctx.signal });
      leases.push(lease as ServiceLease<unknown>);
      ctx.device = lease.device;
      return lease;
    },
    reportMemory: (mb) => observed.memoryReportsMb.push(mb),
    // No task row to complete here: ctx.transaction is just a transaction on the given DataSource.
    transaction: (fn) => {
      if (!options.dataSource) throw new InvalidArgumentError('runProcessor: the processor used ctx.transaction, but no dataSource was given (runProcessor(..., { dataSource }))');
      return options.dataSource.transaction((manager) => fn(manager));
    },
  };
  ctx = new RunningTaskContext(
    task,
    'run-processor',
    recorder({ taskId: task.id, processorType: meta.name, attempt: task.attempts, device: task.assignedDevice }),
    task.assignedDevice,
    options.dataSource ?? noDataSource,
    Object.freeze({ ...(options.services ?? {}) }),
    hooks,
  );

  const abortFrom = () => ctx.abort(options.signal!.reason);
  if (options.signal?.aborted) abortFrom();
  options.signal?.addEventListener('abort', abortFrom, { once: true });
  let timer: NodeJS.Timeout | undefined;
  if (options.timeoutMs !== undefined) {
    ctx.deadline = Date.now() + options.timeoutMs;
    timer = setTimeout(() => ctx.abort(new TaskTimeoutError(`Task ${task.id} timed out after ${options.timeoutMs} ms`)), options.timeoutMs);
  }
  try {
    const result = await processor.process(task, ctx);
    return { result, info: completedInfo(toStorableResult(result)), ...observed, cursor: ctx.latestCursor, processor, task };
  } finally {
    if (timer) clearTimeout(timer);
    options.signal?.removeEventListener('abort', abortFrom);
    const hooks: Array<() => unknown> = [() => ctx.removeTempDirs(), ...ctx.cleanups, ...leases.map((l) => () => l[Symbol.asyncDispose]())];
    if (processor.cleanup) hooks.push(() => processor.cleanup!(task, ctx));
    for (const hook of hooks.reverse()) {
      try {
        await hook();
      } catch (error) {
        observed.cleanupErrors.push(error);
      }
    }
  }
}

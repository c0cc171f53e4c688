import type { DataSource } from 'typeorm';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import { EventRecorder } from '../events/event-recorder';
import { UpkeepEvents } from '../events/upkeep-events';
import { MaintenanceTaskProcessor, type ProcessorClass } from '../processor/maintenance-task-processor';
import { ProcessorRegistry } from '../processor/processor-registry';
import { MaintenanceTaskRunner, type RunnerStats } from '../runner/maintenance-task-runner';
import type { RunnerOptions } from '../runner/runner-options';
import { TaskStore, type NewTaskRow } from '../store/task-store';
import { buildTaskRow, checkDependencies, type CreateTaskOptions } from './task-row-builder';
import { failureInfo } from './task-info';

export { buildTaskRow, checkDependencies, type CreateTaskOptions };
import { RunnerRegistryStore, type RunnerInfo } from '../store/runner-registry-store';
import { IllegalTransitionError, InvalidArgumentError, TaskNotFoundError } from './errors';
import { consoleLogger, toUpkeepLogger, type HostLogger, type UpkeepLogger } from './logger';
import { attachLifecycleLogger } from './lifecycle-logger';
import { resolveSettings, type UpkeepSettings, type UpkeepSettingsInput, type UpkeepYamlSettings } from './settings';
import { canTransition, type TaskStatus } from './status';
import { CompiledSchedule, type ScheduleDefinition } from '../runner/schedules';
import { validateRetention, type PruneResult, type RetentionOptions } from './retention';
import type { DeviceInfo, DeviceProbe } from '../pool/device';
import { DevicePlacement } from '../resources/device-placement';
import type { TaskHealth, UpkeepMetrics } from '../metrics/metrics-types';
import { taskAggregates, taskHealthOf } from '../metrics/task-metrics-query';
import { toPrometheus } from '../metrics/prometheus';
import { UpkeepInternals, type PoolStatsSource } from './upkeep-internals';
import { auditAction, type AuditActor } from '../admin/audit';

/** Options of `new Upkeep(...)`. */
export interface UpkeepOptions {
  /** An initialized TypeORM DataSource whose entities include `UPKEEP_ENTITIES`. */
  dataSource: DataSource;
  /** Processor classes this process can run (each with `@Processor(name)`). */
  processors?: ProcessorClass[];
  /** Settings (camelCase) or the seed's YAML shape (`{ tasks: { max_queue_size: ... } }`). */
  settings?: UpkeepSettingsInput | UpkeepYamlSettings;
  /**
   * Where upkeep logs: pino, winston, bunyan, console or an {@link UpkeepLogger}, taken as they are
   * (style detected). Runner start/stop and each task's start and end are logged at info,
   * failures at warn/error. @defaultValue console, warnings and errors only
   */
  logger?: UpkeepLogger | HostLogger;
  /** Clock used for scheduling (tests may fake it). @defaultValue () => new Date() */
  clock?: () => Date;
  /** Cron schedules; every runner ticks them and each occurrence is enqueued exactly once. */
  schedules?: ScheduleDefinition[];
  /** How long finished tasks, events and metrics are kept; runners prune older rows. Unset: keep all. */
  retention?: RetentionOptions;
  /** Host objects processors need (clients, repositories, pools), handed to them as `ctx.services`. */
  services?: Record<string, unknown>;
  /** Devices runners place tasks on, or a probe returning them. @defaultValue `detectDevices()` (CPU plus NVIDIA GPUs) */
  devices?: DeviceInfo[] | DeviceProbe;
  /** Service pools whose utilization `metrics()` reports (pools used through `ctx.acquire` are added on first use). */
  pools?: PoolStatsSource[];
}

/** One item of `createTasks`. */
export interface CreateTaskItem extends CreateTaskOptions {
  /** The processor (from `Processor.create(props)`). */
  processor: MaintenanceTaskProcessor;
}

/** Summary of a `runDue()` call. */
export interface RunDueResult extends RunnerStats {
  /** Wall time of the call in milliseconds. */
  durationMs: number;
}

/**
 * The entry point: enqueue tasks, create runners, act on tasks as an admin, and listen to
 * typed events. One instance per DataSource per process is typical.
 */
export class Upkeep {
  /** Typed lifecycle events (`task:created`, `task:completed`, `runner:error`, ...). */
  readonly events: UpkeepEvents;
  /** Validated settings in force. */
  readonly settings: UpkeepSettings;
  /** Registered processors. */
  readonly registry: ProcessorRegistry;
  /** @internal */
  readonly internals: UpkeepInternals;
  private readonly runners = new Set<MaintenanceTaskRunner>();
  private deviceProbe: DevicePlacement | undefined;
  private devicesProbedAt = 0;

  constructor(options: UpkeepOptions) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('new Upkeep(options): options must be an object');
    const dataSource = options.dataSource;
    if (!dataSource || typeof dataSource.query !== 'function' || !('options' in dataSource)) {
      throw new InvalidArgumentError('new Upkeep(options): dataSource must be a TypeORM DataSource');
    }
    this.settings = resolveSettings(options.settings);
    this.registry = new ProcessorRegistry(options.processors ?? []);
    this.events = new UpkeepEvents();
    const logger = toUpkeepLogger(options.logger ?? consoleLogger('warn'));
    const store = new TaskStore(dataSource);
    const runnerStore = new TaskStore(dataSource, { background: true });
    const recorder = new EventRecorder(runnerStore.db, (error) =>
      this.events.emit('runner:error', {
        runnerId: null,
        error: { name: (error as Error)?.name ?? 'Error', message: (error as Error)?.message ?? String(error) },
        during: 'persist-events',
      }),
      { logger },
    );
    this.internals = new UpkeepInternals(store, this.registry, this.settings, this.events, recorder, logger, options.clock);
    attachLifecycleLogger(this.events, logger);
    this.internals.runnerStore = runnerStore;
    this.internals.runnerRegistry = new RunnerRegistryStore(runnerStore.db);
    if (options.schedules !== undefined && !Array.isArray(options.schedules)) throw new InvalidArgumentError('new Upkeep(options): schedules must be an array');
    this.internals.schedules = (options.schedules ?? []).map((def) => new CompiledSchedule(def));
    const names = this.internals.schedules.map((s) => s.def.name);
    const duplicate = names.find((n, i) => names.indexOf(n) !== i);
    if (duplicate) throw new InvalidArgumentError(`schedules: the name "${duplicate}" is used twice`);
    if (options.retention !== undefined) this.internals.retention = validateRetention(options.retention);
    if (options.services !== undefined && (typeof options.services !== 'object' || options.services === null)) {
      throw new InvalidArgumentError('new Upkeep(options): services must be an object');
    }
    this.internals.services = Object.freeze({ ...(options.services ?? {}) });
    if (options.devices !== undefined && !Array.isArray(options.devices) && typeof options.devices !== 'function') {
      throw new InvalidArgumentError('new Upkeep(options): devices must be an array of DeviceInfo or a probe function');
    }
    this.internals.devices = options.devices;
    for (const pool of options.pools ?? []) this.internals.pools.add(pool);
    this.internals.enqueue = (items) => this.enqueue(items);
    this.internals.prune = () => this.prune();
  }

  private get store(): TaskStore {
    return this.internals.store;
  }

  // ------------------------------------------------------------ enqueueing

  /**
   * Enqueues one task (PENDING, or INACTIVE with `inactive: true`). The processor's props
   * are validated again and stored as JSON. With a `uniqueKey` that exists, the existing
   * task is returned and nothing is inserted.
   */
  async createTask(processor: MaintenanceTaskProcessor, options: CreateTaskOptions = {}): Promise<MaintenanceTask> {
    const [task] = await this.createTasks([{ ...options, processor }]);
    return task!;
  }

  /** Enqueues many tasks with one round trip per batch of 500; returns them in input order. */
  async createTasks(items: CreateTaskItem[]): Promise<MaintenanceTask[]> {
    return (await this.enqueue(items)).map((r) => r.task);
  }

  private async enqueue(items: CreateTaskItem[]): Promise<Array<{ task: MaintenanceTask; created: boolean }>> {
    if (!Array.isArray(items)) throw new InvalidArgumentError('createTasks(items): items must be an array');
    const now = this.internals.now();
    const rows = items.map((item, index) => this.toRow(item, now, `createTasks(items[${index}])`));
    // While instrumented (upkeep/opentelemetry), each task keeps the enqueuing span's traceparent.
    const traceContext = this.internals.currentTraceContext?.() ?? null;
    if (traceContext) for (const row of rows) row.traceContext = traceContext;
    await this.checkDependencies(rows);
    const results = await this.store.insertTasks(rows, now);
    for (const { task, created } of results) if (created) this.internals.publish('task:created', { task });
    if (results.some((r) => r.created && r.task.status === 'PENDING' && r.task.startAt <= now)) this.internals.wake();
    return results;
  }

  /**
   * Deletes finished tasks, events and metrics older than the retention policy (or the
   * ages given here), in batches. Safe to run from many runners at once: each batch skips
   * rows another runner is deleting.
   */
  async prune(options: RetentionOptions = this.internals.retention ?? {}): Promise<PruneResult> {
    const policy = validateRetention(options, 'prune(options)');
    const now = this.internals.now().getTime();
    const result: PruneResult = { tasks: 0, events: 0, metrics: 0 };
    const drain = async (kind: 'completed' | 'failed' | 'events' | 'metrics', ageMs: number) => {
      let total = 0;
      for (;;) {
        const n = await this.store.pruneBatch(kind, new Date(now - ageMs), policy.batchSize);
        total += n;
        if (n < policy.batchSize) return total;
      }
    };
    if (policy.completedAfterMs !== undefined) result.tasks += await drain('completed', policy.completedAfterMs);
    if (policy.failedAfterMs !== undefined) result.tasks += await drain('failed', policy.failedAfterMs);
    if (policy.eventsAfterMs !== undefined) result.events = await drain('events', policy.eventsAfterMs);
    if (policy.metricsAfterMs !== undefined) result.metrics = await drain('metrics', policy.metricsAfterMs);
    return result;
  }

  private toRow(item: CreateTaskItem, now: Date, where: string): NewTaskRow {
    if (typeof item !== 'object' || item === null) throw new InvalidArgumentError(`${where}: must be an object`);
    const { processor, ...options } = item;
    return buildTaskRow(processor, options, now, this.settings, where);
  }

  private checkDependencies(rows: NewTaskRow[]): Promise<void> {
    return checkDependencies(this.store, rows);
  }

  // ------------------------------------------------------------ reading

  /** A task by id, or null. */
  getTask(id: string): Promise<MaintenanceTask | null> {
    if (typeof id !== 'string' || !id) throw new InvalidArgumentError('getTask(id): id must be a non-empty string');
    return this.store.getTask(id);
  }

  /** Task counts per status. */
  countByStatus(): Promise<Record<TaskStatus, number>> {
    return this.store.countByStatus();
  }

  /**
   * Runners alive now, in any process or host sharing this database: those whose last
   * heartbeat (written to `upkeep_runners`) is within three of their lease lengths. Needs the
   * `UpkeepRunners1764400000000` migration (part of `UPKEEP_MIGRATIONS`).
   */
  listRunners(): Promise<RunnerInfo[]> {
    return new RunnerRegistryStore(this.store.db).listAlive(this.internals.now());
  }

  // ------------------------------------------------------------ running

  /** Creates a runner (call `start()` on it); see `RunnerOptions`. */
  createRunner(options: RunnerOptions = {}): MaintenanceTaskRunner {
    const runner = new MaintenanceTaskRunner(this.internals, options);
    this.runners.add(runner);
    return runner;
  }

  /**
   * Runs everything that is due now (and what becomes due as dependencies complete) and
   * resolves with a summary once nothing due is left. Tasks scheduled for later, including
   * retries with a backoff, stay PENDING. For scripts, tests and CLIs.
   */
  async runDue(options: Omit<RunnerOptions, 'exitWhenIdle'> = {}): Promise<RunDueResult> {
    const started = Date.now();
    const runner = this.createRunner({ ...options, exitWhenIdle: true });
    await runner.start();
    try {
      await runner.whenIdle();
    } finally {
      await runner.stop({ graceMs: 0 });
      this.runners.delete(runner);
    }
    const { inFlight: _inFlight, buffered: _buffered, unwritten: _unwritten, ...stats } = runner.stats();
    return { ...stats, durationMs: Date.now() - started };
  }

  /**
   * Starts `runDue()` in the background for a deploy hook: never blocks, never throws into
   * the caller. Failures are reported as `runner:error`. The returned promise resolves
   * with the summary (or null after a failure) for callers that want to wait anyway.
   */
  triggerOnDeploy(options: Omit<RunnerOptions, 'exitWhenIdle'> = {}): Promise<RunDueResult | null> {
    const run = Promise.resolve()
      .then(() => this.runDue(options))
      .catch((error: unknown) => {
        const e = error instanceof Error ? error : new Error(String(error));
        this.internals.logger.error(`triggerOnDeploy failed: ${e.message}`);
        this.events.emit('runner:error', { runnerId: null, error: { name: e.name, message: e.message }, during: 'triggerOnDeploy' });
        return null;
      });
    return run;
  }

  // ------------------------------------------------------------ admin actions

  private async mustGet(id: string): Promise<MaintenanceTask> {
    const task = await this.getTask(id);
    if (!task) throw new TaskNotFoundError(`No task has id ${JSON.stringify(id)}`);
    return task;
  }

  /**
   * Cancels a task: PENDING, INACTIVE or PAUSED tasks become CANCELLED at once; a WORKING
   * task's signal aborts and it ends CANCELLED when its processor returns. Returns the task
   * as it is after the request. With `by`, the action is stored in the audit trail.
   */
  cancelTask(id: string, by?: AuditActor): Promise<MaintenanceTask> {
    return this.audited(by, 'cancel', id, () => this.cancelNow(id));
  }

  private async cancelNow(id: string): Promise<MaintenanceTask> {
    const task = await this.mustGet(id);
    const now = this.internals.now();
    if (task.status === 'WORKING') {
      if (!(await this.store.requestControl(id, 'cancel', now))) return this.cancelNow(id);
      for (const runner of this.internals.localRunners) if (runner.interrupt(id, 'cancel')) break;
      return this.mustGet(id);
    }
    if (!canTransition(task.status, 'CANCELLED')) throw new IllegalTransitionError(id, task.status, 'CANCELLED');
    const ok = await this.store.transition(
      id,
      'CANCELLED',
      { failureReason: 'cancelled', lastError: 'Cancelled by an admin', finished: true, info: failureInfo({ name: 'TaskCancelledError', message: 'Cancelled by an admin', code: 'CANCELLED' }, task.attempts) },
      now,
      { from: [task.status] },
    );
    if (!ok) return this.cancelNow(id); // the task moved meanwhile: decide again on its new status
    const updated = await this.mustGet(id);
    this.internals.publish('task:cancelled', { task: updated, reason: 'cancelled', by: 'admin' });
    const dependents = await this.store.cancelDependents([id], now);
    for (const dep of (await this.store.getTasks(dependents)).values()) {
      this.internals.publish('task:cancelled', { task: dep, reason: 'dependency_failed', by: 'dependency' });
    }
    return updated;
  }

  /**
   * Pauses a task: PENDING becomes PAUSED at once; a WORKING task stops at its next safe
   * point (its signal aborts) and becomes PAUSED with its cursor kept. With `by`, audited.
   */
  pauseTask(id: string, by?: AuditActor): Promise<MaintenanceTask> {
    return this.audited(by, 'pause', id, () => this.pauseNow(id));
  }

  private async pauseNow(id: string): Promise<MaintenanceTask> {
    const task = await this.mustGet(id);
    const now = this.internals.now();
    if (task.status === 'WORKING') {
      if (!(await this.store.requestControl(id, 'pause', now))) return this.pauseNow(id);
      for (const runner of this.internals.localRunners) if (runner.interrupt(id, 'pause')) break;
      return this.mustGet(id);
    }
    if (task.status !== 'PENDING') throw new IllegalTransitionError(id, task.status, 'PAUSED');
    if (!(await this.store.transition(id, 'PAUSED', {}, now, { from: ['PENDING'] }))) return this.pauseNow(id);
    const updated = await this.mustGet(id);
    this.internals.publish('task:paused', { task: updated });
    return updated;
  }

  /** Resumes a PAUSED task (back to PENDING, due now, keeping its cursor). With `by`, audited. */
  resumeTask(id: string, by?: AuditActor): Promise<MaintenanceTask> {
    return this.audited(by, 'resume', id, () => this.reschedule(id, ['PAUSED'], 'task:resumed'));
  }

  /** Runs an admin action, stored in the audit trail when an actor is given. */
  private audited(by: AuditActor | undefined, action: string, id: string, act: () => Promise<MaintenanceTask>): Promise<MaintenanceTask> {
    return by ? auditAction(this, by, action, id, act) : act();
  }

  /** Activates an INACTIVE task (back to PENDING, due at its `start_at`). With `by`, audited. */
  activateTask(id: string, by?: AuditActor): Promise<MaintenanceTask> {
    return this.audited(by, 'start', id, () => this.activateNow(id));
  }

  private async activateNow(id: string): Promise<MaintenanceTask> {
    const task = await this.mustGet(id);
    if (task.status !== 'INACTIVE') throw new IllegalTransitionError(id, task.status, 'PENDING', 'only INACTIVE tasks can be activated');
    if (!(await this.store.transition(id, 'PENDING', {}, this.internals.now(), { from: ['INACTIVE'] }))) {
      throw new IllegalTransitionError(id, task.status, 'PENDING', 'the task changed meanwhile');
    }
    this.internals.wake();
    await this.store.notify();
    return this.mustGet(id);
  }

  /** Re-queues a task that ended in ERROR or CANCELLED, with a fresh set of attempts. With `by`, audited. */
  retryTask(id: string, by?: AuditActor): Promise<MaintenanceTask> {
    return this.audited(by, 'retry', id, () => this.reschedule(id, ['ERROR', 'CANCELLED'], 'task:retried', { attempts: 0, failureReason: null, unfinish: true }));
  }

  private async reschedule(
    id: string,
    from: TaskStatus[],
    event: 'task:resumed' | 'task:retried',
    patch: { attempts?: number; failureReason?: null; unfinish?: boolean } = {},
  ): Promise<MaintenanceTask> {
    const task = await this.mustGet(id);
    if (!from.includes(task.status)) throw new IllegalTransitionError(id, task.status, 'PENDING');
    const now = this.internals.now();
    const ok = await this.store.transition(id, 'PENDING', { ...patch, startAt: now }, now, { from: [task.status] });
    if (!ok) throw new IllegalTransitionError(id, task.status, 'PENDING', 'the task changed meanwhile');
    const updated = await this.mustGet(id);
    this.internals.publish(event, { task: updated });
    this.internals.wake();
    await this.store.notify();
    return updated;
  }

  /**
   * The seed's manual reset: WORKING tasks whose lease expired (or, with `olderThanMs`,
   * that started longer ago than that) go back to PENDING. Runners also do this on their
   * own when a lease expires; this is the admin's lever. Returns the ids reset.
   */
  async resetStuckTasks(options: { olderThanMs?: number } = {}): Promise<string[]> {
    const now = this.internals.now();
    const startedBefore = options.olderThanMs !== undefined ? new Date(now.getTime() - options.olderThanMs) : undefined;
    const stuck = await this.store.findStuck(now, startedBefore, 10_000);
    const reset: string[] = [];
    for (const task of stuck) {
      // Guarded by the holder read above: a runner that renewed or finished meanwhile wins.
      const ok = await this.store.transition(task.id, 'PENDING', { releaseLease: true, startAt: now, lastError: 'Reset by an admin' }, now, {
        from: ['WORKING'],
        lockedBy: task.lockedBy ?? undefined,
        // Without olderThanMs only expired leases are reset: a holder that renewed meanwhile wins.
        ...(startedBefore ? {} : { leaseExpiredBefore: now }),
        version: task.version,
      });
      if (!ok) continue;
      reset.push(task.id);
      Object.assign(task, { status: 'PENDING', lockedBy: null, leaseExpiresAt: null });
      this.internals.publish('task:reset', { task });
    }
    if (reset.length) {
      this.internals.wake();
      await this.store.notify();
    }
    return reset;
  }

  // ------------------------------------------------------------ metrics

  /** Adds a pool whose utilization `metrics()` reports (pools used through `ctx.acquire` are added on first use). */
  registerPool(pool: PoolStatsSource): void {
    this.internals.pools.add(pool);
  }

  /**
   * The second seed's metrics (`active_tasks`, `queued_tasks`, `memory_by_device`,
   * `pool_utilization`, `average_wait_time`) computed from the database, this process's
   * runners and the registered pools. Render with `metricsToPrometheus()`.
   */
  async metrics(): Promise<UpkeepMetrics> {
    const now = this.internals.now();
    const [agg, statusCounts] = await Promise.all([taskAggregates(this.store, now), this.store.countByStatus()]);
    const activeTasks = { total: 0, byType: {} as Record<string, number>, byDevice: {} as Record<string, number> };
    const memoryByDevice: UpkeepMetrics['memoryByDevice'] = {};
    const memory = (device: string) => (memoryByDevice[device] ??= { estimatedMb: 0, poolReservedMb: 0, totalMb: null, freeMb: null });
    for (const w of agg.working) {
      activeTasks.total += w.n;
      activeTasks.byType[w.type] = (activeTasks.byType[w.type] ?? 0) + w.n;
      activeTasks.byDevice[w.device] = (activeTasks.byDevice[w.device] ?? 0) + w.n;
      memory(w.device).estimatedMb += w.memoryMb;
    }
    const queuedTasks = { total: 0, due: 0, scheduled: 0, byType: {} as Record<string, number>, local: 0 };
    for (const p of agg.pending) {
      queuedTasks.total += p.n;
      if (p.due) queuedTasks.due += p.n;
      else queuedTasks.scheduled += p.n;
      queuedTasks.byType[p.type] = (queuedTasks.byType[p.type] ?? 0) + p.n;
    }
    for (const runner of this.runners) queuedTasks.local += runner.queuedCount;
    if (this.settings.enableResourceTracking) {
      if (!this.deviceProbe || Date.now() - this.devicesProbedAt > 10_000) {
        this.deviceProbe ??= new DevicePlacement(this.internals.devices);
        await this.deviceProbe.refresh();
        this.devicesProbedAt = Date.now();
      }
      for (const device of this.deviceProbe.list()) {
        const m = memory(device.id);
        m.totalMb = device.totalMemoryMb;
        m.freeMb = device.freeMemoryMb;
      }
    }
    const poolUtilization: UpkeepMetrics['poolUtilization'] = {};
    for (const pool of this.internals.pools) {
      const stats = pool.stats();
      const byDevice: Record<string, number> = {};
      for (const [id, d] of Object.entries(stats.devices)) {
        byDevice[id] = d.utilization;
        memory(id).poolReservedMb += d.reservedMemoryMb;
      }
      poolUtilization[stats.name] = { utilization: stats.totals.utilization, byDevice, waiting: stats.totals.waiting, size: stats.totals.size };
    }
    return { generatedAt: now, activeTasks, queuedTasks, memoryByDevice, poolUtilization, averageWaitTime: agg.averageWaitTime, statusCounts };
  }

  /** `metrics()` rendered in the Prometheus text format. */
  async prometheus(): Promise<string> {
    return toPrometheus(await this.metrics());
  }

  /** The second seed's task health: status, memory use, processing time, device and warnings. */
  async taskHealth(id: string): Promise<TaskHealth> {
    const task = await this.mustGet(id);
    const processorTimeout = this.registry.get(task.processorType)?.meta.options.timeoutMs;
    return taskHealthOf(this.store, task, this.internals.now(), processorTimeout ?? this.settings.defaultTimeoutMs);
  }

  /** Stops every runner this instance created and writes pending events. */
  async close(): Promise<void> {
    await Promise.all([...this.runners].map((r) => r.stop()));
    // Writes what is queued (giving up after the recorder's flush timeout) and says how many rows were lost.
    await this.internals.recorder.close();
  }
}

import type { UpkeepInternals } from '../core/upkeep-internals';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import { TaskCancelledError, TaskInterruptedError } from '../core/errors';
import { PgListener } from '../store/pg-listener';
import { TaskQueue } from '../queue/task-queue';
import { ANY, DevicePlacement } from '../resources/device-placement';
import { TaskErrorHandler } from '../resources/task-error-handler';
import { resolveRunnerOptions, type ResolvedRunnerOptions, type RunnerOptions } from './runner-options';
import { RunningTaskContext } from './task-context';
import { FlightHooks, TaskLogger } from './flight-hooks';
import { LeaseClock } from './lease-clock';
import { ClaimLoop } from './claim-loop';
import { TaskExecution } from './task-execution';
import { OutcomeWriter } from './outcome-writer';
import { CompletionBatcher } from './completion-batcher';
import { LeaseKeeper } from './lease-keeper';
import { ScheduleTicker } from './schedule-ticker';
import { ProgressWriter } from './progress-writer';
import { ResourceTracker, rssMb } from './resource-tracker';
import { delay, type InFlight, type Outcome, type RunnerCore, type RunnerStats, type StopOptions } from './runner-types';
import { describeThrown } from './storable-result';
import { isLockConflict } from '../store/write-errors';
import { placementDevice } from './placement-of';
import type { MaintenanceTaskProcessor } from '../processor/maintenance-task-processor';

export type { RunnerStats, StopOptions } from './runner-types';

/**
 * Claims due tasks, runs them with leases, heartbeats, timeouts, retries and cleanup,
 * and writes results back in batches. Any number of runners, in any number of
 * processes and hosts, may share one database.
 */
export class MaintenanceTaskRunner implements RunnerCore {
  /** @internal */ readonly claims: ClaimLoop;
  /** @internal */ readonly execution: TaskExecution;
  /** @internal */ readonly outcomes: OutcomeWriter;
  /** @internal */ readonly batcher: CompletionBatcher;
  /** @internal */ readonly leases: LeaseKeeper;
  /** @internal */ readonly schedules: ScheduleTicker;
  /** @internal */ readonly progress: ProgressWriter;
  /** @internal */ readonly resources: ResourceTracker;
  /** The options in force, defaults applied. */
  readonly options: ResolvedRunnerOptions;
  /** Claimed tasks waiting for a slot (and, with resource tracking, a device with room). */
  readonly queue: TaskQueue<MaintenanceTask>;
  readonly placement: DevicePlacement | undefined;
  readonly errorHandler: TaskErrorHandler;
  readonly inFlight = new Map<string, InFlight>();
  running = false;
  stopping = false;
  private stopped: Promise<void> | undefined;
  private idleWaiters: Array<() => void> = [];
  private timers: NodeJS.Timeout[] = [];
  readonly counters: RunnerStats = { claimed: 0, completed: 0, failed: 0, retried: 0, cancelled: 0, paused: 0, handedBack: 0, rescued: 0, lockConflicts: 0 };
  private readonly wake = () => {
    this.claims.wokenAt = Date.now();
    this.claims.wakeRetried = false;
    this.claims.requestPump();
  };
  private starting: Promise<void> | undefined;
  private listener: PgListener | undefined;
  /** A stopping runner gives up on writes the database keeps failing after this time (epoch ms). */
  writeDeadline = Infinity;
  /** Local lease of every task held: a frozen process must not start or finish a task it lost. */
  readonly leaseClock: LeaseClock;

  constructor(
    /** @internal */ readonly up: UpkeepInternals,
    options: RunnerOptions = {},
  ) {
    this.options = resolveRunnerOptions(options, up.settings.maxQueueSize);
    this.queue = new TaskQueue<MaintenanceTask>(up.settings);
    this.leaseClock = new LeaseClock(this.options.leaseMs);
    this.placement = up.settings.enableResourceTracking ? new DevicePlacement(up.devices) : undefined;
    this.claims = new ClaimLoop(this);
    this.execution = new TaskExecution(this);
    this.outcomes = new OutcomeWriter(this);
    this.batcher = new CompletionBatcher(this);
    this.leases = new LeaseKeeper(this);
    this.schedules = new ScheduleTicker(this);
    this.progress = new ProgressWriter(this);
    this.resources = new ResourceTracker(this);
    this.errorHandler = new TaskErrorHandler({
      memoryReductionFactor: up.settings.retry.memoryReductionFactor,
      cpuFallback: up.settings.oomCpuFallback,
      emit: (event, payload) => up.publish(event, payload),
    });
  }

  /** Claimed tasks waiting in this runner's local queue. */
  get queuedCount(): number {
    return this.queue.size;
  }

  /** Id written to `locked_by` for the tasks this runner holds. */
  get id(): string {
    return this.options.runnerId;
  }

  /** True between `start()` and the end of `stop()`. */
  get isRunning(): boolean {
    return this.running;
  }

  /**
   * What this runner has done so far, and what it holds now: `inFlight` tasks running,
   * `buffered` claimed and waiting in the local queue, `unwritten` finished with their result
   * not yet stored (batched writes; they count against the claim room, and at 1,000 the
   * runner claims nothing more until they are).
   */
  stats(): RunnerStats & { inFlight: number; buffered: number; unwritten: number } {
    return { ...this.counters, inFlight: this.inFlight.size, buffered: this.queue.size, unwritten: this.batcher.unwritten };
  }

  /** Processor types this runner claims. */
  get processorTypes(): string[] {
    const registered = this.up.registry.names();
    return this.options.processorTypes ? registered.filter((t) => this.options.processorTypes!.includes(t)) : registered;
  }

  /** Starts claiming and running tasks; resolves once the runner is up. */
  async start(): Promise<void> {
    if (this.running) return this.starting;
    this.running = true;
    this.stopping = false;
    this.stopped = undefined;
    this.leases.startedAt = this.up.now();
    this.starting = this.startUp().catch(async (error) => {
      // A runner that failed to start leaves nothing behind: no timers, no registrations.
      this.teardown();
      this.running = false;
      throw error;
    });
    return this.starting;
  }

  private async startUp(): Promise<void> {
    this.up.wakeListeners.add(this.wake);
    this.up.localRunners.add(this);
    if (this.placement) {
      await this.placement.refresh();
      this.every(10_000, () => this.placement!.refresh());
      this.every(this.up.settings.metricsIntervalMs, () => this.resources.sampleMemory());
    }
    this.every(this.options.heartbeatIntervalMs, () => this.leases.heartbeat());
    // A started runner keeps its process alive (its other timers do not hold the event loop).
    if (!this.options.exitWhenIdle) this.timers.push(setInterval(() => undefined, 60_000));
    this.every(this.options.rescueIntervalMs, () => this.leases.rescueExpired());
    this.every(Math.max(1000, Math.min(this.up.settings.queueTimeoutSeconds * 1000, 30_000)), () => this.handBackStale());
    if (this.options.schedules && this.up.schedules.length && !this.options.exitWhenIdle) {
      this.every(1000, () => this.schedules.tickSchedules());
      await this.schedules.tickSchedules().catch((error) => this.reportError('schedules', error));
    }
    if (this.options.prune && this.up.retention && !this.options.exitWhenIdle) this.every(this.up.retention.intervalMs, () => this.up.prune());
    if (this.options.listen && this.up.runnerStore.db.dialect === 'postgres' && !this.options.exitWhenIdle) {
      this.listener = new PgListener(this.up.runnerStore.dataSource, this.wake, (error) => this.reportError('listen', error));
      await this.listener.start();
    }
    await this.leases.register();
    this.up.publish('runner:started', { runnerId: this.id, concurrency: this.options.concurrency, processorTypes: this.processorTypes });
    // A runner that starts rescues right away: a restart after a crash should not wait.
    await this.leases.rescueExpired();
    if (!this.stopping) this.wake();
  }

  /** Clears timers and registrations (stop, or a failed start). */
  private teardown(): void {
    if (this.claims.pollTimer) clearTimeout(this.claims.pollTimer);
    this.claims.pollTimer = undefined;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.up.wakeListeners.delete(this.wake);
    this.up.localRunners.delete(this);
    void this.listener?.stop();
    this.listener = undefined;
  }

  /** Resolves once nothing is due, nothing runs and everything is written (`exitWhenIdle` runners). */
  whenIdle(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.checkIdle();
    });
  }

  /**
   * Stops gracefully: stops claiming, hands back tasks not yet started, lets in-flight
   * tasks finish within `graceMs`, interrupts and hands back the rest (PENDING, lease
   * cleared, attempt not counted), writes everything, and closes timers and listeners.
   */
  stop(options: StopOptions = {}): Promise<void> {
    if (!this.running) return Promise.resolve();
    this.stopped ??= this.doStop(options.graceMs ?? 30_000);
    return this.stopped;
  }

  /** `await using runner = upkeep.createRunner()` stops it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /**
   * Interrupts a task this runner is running (cancel or pause), at once rather than at the
   * next heartbeat. Returns false when the task is not running here. @internal
   */
  interrupt(taskId: string, action: 'cancel' | 'pause'): boolean {
    const flight = this.inFlight.get(taskId);
    if (!flight) return false;
    this.abortTask(flight, action);
    return true;
  }

  private async doStop(graceMs: number): Promise<void> {
    this.stopping = true;
    // A stop during start() waits for it, so every timer it creates is cleared below.
    await this.starting?.catch(() => undefined);
    if (this.claims.pollTimer) clearTimeout(this.claims.pollTimer);
    this.up.wakeListeners.delete(this.wake);
    await this.listener?.stop();
    this.listener = undefined;
    // A claim in flight finishes first; what it brings back is handed back by pump().
    await this.claims.pumpDone;
    // Not started yet: back to the database at once.
    const notStarted = this.queue.clear();
    await this.outcomes.handBack(notStarted, 'shutdown');
    // A claim that failed in flight may have committed unseen: its rows go back too, instead of
    // waiting out their lease (adoptUnknownClaims hands them back while stopping).
    if (this.claims.claimUncertain) await this.claims.adoptUnknownClaims().catch((error) => this.reportError('claim', error));
    if (this.inFlight.size) {
      const allDone = Promise.all([...this.inFlight.values()].map((f) => f.done));
      const timedOut = await Promise.race([allDone.then(() => false), delay(graceMs).then(() => true)]);
      if (timedOut) {
        for (const flight of this.inFlight.values()) this.abortTask(flight, 'shutdown');
        await Promise.race([Promise.all([...this.inFlight.values()].map((f) => f.done)), delay(this.options.interruptGraceMs)]);
        // Still running after the interrupt grace: hand back anyway (the process is going away).
        const stuck = [...this.inFlight.values()].map((f) => f.task);
        await this.outcomes.handBack(stuck, 'shutdown');
      }
    }
    this.writeDeadline = Date.now() + Math.max(5000, graceMs);
    await this.batcher.flushCompletions();
    await this.resources.metrics.flush();
    this.teardown();
    if (this.leases.registryUsable) await this.up.runnerRegistry.remove(this.id).catch((error) => this.reportError('registry', error));
    this.running = false;
    this.up.publish('runner:stopped', { runnerId: this.id, handedBack: this.counters.handedBack });
    // One flush of the events still queued, within what is left of the write deadline.
    await this.up.recorder.flush(Math.max(1000, this.writeDeadline - Date.now()));
    this.resolveIdle();
  }

  private every(ms: number, fn: () => Promise<unknown>): void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      fn()
        .catch((error) => this.reportError('timer', error, { retried: true })) // runs again at the next tick
        .finally(() => (busy = false));
    }, ms);
    timer.unref?.();
    this.timers.push(timer);
  }

  reportError(during: string, error: unknown, opts: { retried?: boolean } = {}): void {
    const e = describeThrown(error);
    const dialect = this.up.runnerStore.db.dialect;
    if (opts.retried && dialect !== 'sqlite' && isLockConflict(error, dialect)) {
      // A deadlock or lock wait between runners is a lost race, not a fault: the caller runs
      // the statement again, so it is counted and logged at debug level, never a runner:error.
      // (Callers that do not retry report it like any error.)
      // (SQLite's BUSY is different: another connection held the file's write lock past the
      // busy timeout, which a host wants to hear about.)
      this.counters.lockConflicts++;
      this.up.logger.debug(`runner ${this.id} ${during}: ${e.message} (retried)`);
      return;
    }
    this.up.logger.error(`runner ${this.id} ${during}: ${e.message}`);
    this.up.publish('runner:error', { runnerId: this.id, error: { name: e.name, message: e.message, code: e.code }, during });
  }

  // ---------------------------------------------------------------- claiming

  dispatch(): void {
    if (this.stopping) return;
    while (this.inFlight.size < this.options.concurrency && this.queue.size) {
      if (!this.placement) {
        this.startTask(this.queue.getNextTask()!, null, 0);
        continue;
      }
      let started = false;
      for (const device of this.placement.candidates(ANY)) {
        const task = this.queue.peek(device.id);
        if (!task) continue;
        const need = task.estimatedMemoryMb ?? 0;
        if (this.placement.available(device) < need) continue;
        this.queue.remove(task.id);
        this.startTask(task, device.id, need);
        started = true;
        break;
      }
      if (started) continue;
      // Nothing fits now. A task no device could ever hold fails instead of waiting forever.
      const next = this.queue.peek();
      const routing = placementDevice(next) ?? ANY;
      if (next && this.placement.neverFits(routing, next.estimatedMemoryMb ?? 0)) {
        this.queue.remove(next.id);
        this.startTask(next, null, 0, 'device_unavailable');
        continue;
      }
      break; // wait for a running task to free memory
    }
  }

  isQuiet(): boolean {
    return !this.inFlight.size && !this.queue.size && !this.batcher.completions.length && !this.claims.pumping;
  }

  checkIdle(): void {
    if (!this.options.exitWhenIdle || !this.idleWaiters.length) return;
    if (!this.isQuiet()) return;
    // Confirm with one more claim after the writes: completions may have unblocked dependents.
    void this.batcher.flushing.then(() => {
      if (!this.isQuiet()) return;
      if (this.claims.pumpAgain) return;
      this.claims.confirmIdle();
    });
  }

  resolveIdle(): void {
    const waiters = this.idleWaiters.splice(0);
    for (const resolve of waiters) resolve();
  }

  // ---------------------------------------------------------------- running

  /** Settles on the next turn of the event loop; shared by every task started in this turn. */
  private nextTurn: Promise<void> | undefined;

  private turn(): Promise<void> {
    return (this.nextTurn ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.nextTurn = undefined;
        resolve();
      }),
    ));
  }

  private startTask(task: MaintenanceTask, device: string | null, reservedMb: number, failWith?: 'device_unavailable'): void {
    if (device !== null) {
      this.placement?.reserve(task.id, device, reservedMb);
      if (task.assignedDevice !== device) {
        task.assignedDevice = device;
        this.up.runnerStore.saveResources(task.id, { assignedDevice: device }).catch((error) => this.reportError('resources', error));
      }
    }
    // One object per task for its fields, its hooks and its logger (bound on first use).
    const flight: InFlight = {
      task,
      ctx: undefined as unknown as RunningTaskContext,
      startedAt: Date.now(),
      done: undefined as unknown as Promise<void>,
      lastProgressWrite: 0,
      device,
      reservedMb,
      rssAtStartMb: this.placement ? rssMb() : 0,
      peakMemoryMb: 0,
      warned: false,
      leases: [],
    };
    flight.ctx = new RunningTaskContext(task, this.id, new TaskLogger(this.up.logger, task, device), device, this.up.runnerStore.dataSource, this.up.services, new FlightHooks(this, flight));
    this.inFlight.set(task.id, flight);
    this.claims.started++;
    // Start on the next turn of the event loop: with a synchronous driver (better-sqlite3)
    // a chain of tasks would otherwise never let timers (timeouts, heartbeats) run.
    flight.done = this.runFlight(flight, failWith);
  }

  private async runFlight(flight: InFlight, failWith: 'device_unavailable' | undefined): Promise<void> {
    const { task } = flight;
    try {
      await this.turn();
      await this.runTask(flight, failWith);
    } catch (error) {
      this.reportError(`task ${task.id}`, error);
    } finally {
      if (flight.progressTimer) clearTimeout(flight.progressTimer);
      if (flight.tx) void flight.tx.rollback();
      // A newer attempt of the same task (re-claimed while this one ignored its signal)
      // owns the entry now; only remove our own.
      if (this.inFlight.get(task.id) === flight) {
        this.inFlight.delete(task.id);
        if (!this.batcher.completions.some((c) => c.task.id === task.id)) this.leaseClock.forget(task.id);
      }
      this.placement?.release(task.id);
      this.dispatch();
      if (!this.inFlight.size) this.batcher.nudge();
      if (this.claims.queueLow) this.claims.requestPump();
      else if (this.isQuiet()) this.checkIdle();
    }
  }

  abortTask(flight: InFlight, action: 'cancel' | 'pause' | 'shutdown' | 'lease_lost'): void {
    if (flight.ctx.aborted) return;
    const reason =
      action === 'cancel'
        ? new TaskCancelledError(`Task ${flight.task.id} was cancelled`)
        : new TaskInterruptedError(action, `Task ${flight.task.id} was interrupted (${action})`);
    flight.ctx.abort(reason);
  }

  private async runTask(flight: InFlight, failWith?: 'device_unavailable'): Promise<void> {
    const { task } = flight;
    // A task whose lease ran out while it waited here (the process was frozen) is not started.
    if (!this.leaseClock.valid(task.id) && !(await this.leases.holdsLease(task))) {
      this.leaseClock.forget(task.id);
      return;
    }
    this.up.publish('task:started', { task, runnerId: this.id, attempt: task.attempts });
    const loaded = this.execution.loadProcessor(task);
    let outcome: Outcome;
    let processor: MaintenanceTaskProcessor | undefined;
    if (failWith) {
      const message = `No device can hold the ${task.estimatedMemoryMb} MiB this task needs`;
      outcome = { kind: 'failed', reason: 'device_unavailable', retryable: false, error: { name: 'DeviceUnavailableError', message, code: 'DEVICE_UNAVAILABLE' } };
    } else if ('failure' in loaded) {
      outcome = loaded.failure;
    } else if (!this.leaseClock.valid(task.id) && !(await this.leases.holdsLease(task))) {
      // Checked again right before process(): the process was frozen (or blocked on a log
      // write) while the start was announced and the processor loaded, past the lease.
      outcome = { kind: 'lease_lost' };
    } else {
      processor = loaded.processor;
      const limit = this.up.settings.enableResourceTracking ? processor.resources?.().memoryLimitMb : undefined;
      if (limit !== undefined) flight.memoryLimitMb = limit;
      outcome = await this.execution.execute(flight, processor);
    }
    // Writes of ctx.transaction stand only with a completion.
    if (flight.tx && outcome.kind !== 'completed') {
      await flight.tx.rollback();
      flight.tx = undefined;
    }
    // The measured peak includes the end state; rows are only written by the interval and stage changes.
    if (this.placement && outcome.kind !== 'lease_lost') flight.peakMemoryMb = Math.max(flight.peakMemoryMb, this.resources.memoryOf(flight));
    const cleanupDone = await this.execution.cleanup(flight, processor);
    await this.outcomes.finish(flight, outcome, cleanupDone, processor);
  }

  /** Tasks claimed but not started for longer than queueTimeoutSeconds go back to the database. */
  /** Hands tasks this runner holds back to the database (the outcome writer does it). @internal */
  handBack(tasks: MaintenanceTask[], reason: 'shutdown' | 'queue_timeout'): Promise<number> {
    return this.outcomes.handBack(tasks, reason);
  }

  private async handBackStale(): Promise<void> {
    const stale = this.queue.takeExpired();
    if (stale.length) await this.outcomes.handBack(stale, 'queue_timeout');
  }

  // ---------------------------------------------------------------- resources

}

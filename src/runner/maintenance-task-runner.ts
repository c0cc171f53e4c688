import { hostname } from 'node:os';
import {
  isUpkeepError,
  TaskCancelledError,
  TaskInterruptedError,
  TaskTimeoutError,
  UnrecoverableTaskError,
} from '../core/errors';
import { childLogger } from '../core/logger';
import type { TaskFailureReason } from '../core/status';
import type { UpkeepInternals } from '../core/upkeep-internals';
import type { JsonValue, MaintenanceTask, TaskInfo } from '../entities/maintenance-task.entity';
import type { EventError } from '../events/event-map';
import type { MaintenanceTaskProcessor } from '../processor/maintenance-task-processor';
import { instantiateProcessor, parseProcessorJson, serializeProcessor, validateProcessor } from '../processor/serialization';
import { retryDelayMs } from './backoff';
import { resolveRunnerOptions, type ResolvedRunnerOptions, type RunnerOptions } from './runner-options';
import { describeThrown, RESULT_LIMITS, toStorableResult } from './storable-result';
import { RunningTaskContext } from './task-context';
import { LeaseClock } from './lease-clock';
import { PgListener } from '../store/pg-listener';
import { classifyWriteError } from '../store/write-errors';
import { openTaskTransaction, type TaskTransaction } from '../store/executor';
import type { EntityManager } from 'typeorm';
import { TaskQueue } from '../queue/task-queue';
import { ANY, DevicePlacement } from '../resources/device-placement';
import { MetricRecorder } from '../resources/metric-recorder';
import { isOutOfMemoryError } from '../resources/out-of-memory';
import { TaskErrorHandler } from '../resources/task-error-handler';
import { InvalidArgumentError, MemoryLimitExceededError } from '../core/errors';
import type { AcquireOptions, ServiceLease } from '../pool/types';
import type { ServicePool } from '../pool/service-pool';

/** Counts of what a runner did, returned by `runDue()` and `runner.stats()`. */
export interface RunnerStats {
  /** Tasks claimed. */
  claimed: number;
  /** Tasks that reached COMPLETED. */
  completed: number;
  /** Tasks that reached ERROR. */
  failed: number;
  /** Failed attempts that were scheduled for a retry. */
  retried: number;
  /** Tasks that ended CANCELLED while this runner held them. */
  cancelled: number;
  /** Tasks paused while running. */
  paused: number;
  /** Tasks handed back to PENDING (shutdown, queue timeout). */
  handedBack: number;
  /** Expired leases of other runners this runner rescued. */
  rescued: number;
}

/** Options of `runner.stop()`. */
export interface StopOptions {
  /** How long in-flight tasks may keep running before they are interrupted and handed back. @defaultValue 30000 */
  graceMs?: number;
}

type Outcome =
  | { kind: 'completed'; result: JsonValue }
  | { kind: 'failed'; reason: TaskFailureReason; error: EventError & { stack?: string }; retryable: boolean; thrown?: unknown }
  | { kind: 'cancelled'; by: 'admin' | 'processor' }
  | { kind: 'paused' }
  | { kind: 'handed_back' }
  | { kind: 'lease_lost' };

interface InFlight {
  task: MaintenanceTask;
  ctx: RunningTaskContext;
  startedAt: number;
  done: Promise<void>;
  lastProgressWrite: number;
  progressTimer?: NodeJS.Timeout;
  /** Device the task was placed on (resource tracking), and what it reserves there. */
  device: string | null;
  reservedMb: number;
  /** Memory the processor reported with `ctx.reportMemory`. */
  reportedMemoryMb?: number;
  /** Memory accounting. */
  rssAtStartMb: number;
  peakMemoryMb: number;
  memoryLimitMb?: number;
  warned: boolean;
  leases: Array<ServiceLease<unknown>>;
  /** The transaction of `ctx.transaction`, open until the task's completion joins it. */
  tx?: TaskTransaction;
}

interface PendingCompletion {
  task: MaintenanceTask;
  info: TaskInfo;
  result: JsonValue;
  durationMs: number;
  cleanupDone: boolean;
  progressDone: number | null;
  /** Writes of this result that failed one by one. */
  failures?: number;
}

const NON_RETRYABLE: ReadonlySet<TaskFailureReason> = new Set<TaskFailureReason>([
  'invalid_config',
  'unknown_processor',
  'result_not_serializable',
  'cancelled',
  'dependency_failed',
]);

const PROGRESS_WRITE_INTERVAL_MS = 1000;

/**
 * Claims due tasks, runs them with leases, heartbeats, timeouts, retries and cleanup,
 * and writes results back in batches. Any number of runners, in any number of
 * processes and hosts, may share one database.
 */
export class MaintenanceTaskRunner {
  /** The options in force, defaults applied. */
  readonly options: ResolvedRunnerOptions;
  /** Claimed tasks waiting for a slot (and, with resource tracking, a device with room). */
  private readonly queue: TaskQueue<MaintenanceTask>;
  private readonly placement: DevicePlacement | undefined;
  private readonly metrics: MetricRecorder;
  private readonly errorHandler: TaskErrorHandler;
  private readonly inFlight = new Map<string, InFlight>();
  private completions: PendingCompletion[] = [];
  private flushScheduled = false;
  private flushing: Promise<void> = Promise.resolve();
  private running = false;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private pumping = false;
  private pumpAgain = false;
  private claimFailures = 0;
  private idleWaiters: Array<() => void> = [];
  private timers: NodeJS.Timeout[] = [];
  private pollTimer: NodeJS.Timeout | undefined;
  private readonly counters: RunnerStats = { claimed: 0, completed: 0, failed: 0, retried: 0, cancelled: 0, paused: 0, handedBack: 0, rescued: 0 };
  private readonly wake = () => {
    this.wokenAt = Date.now();
    this.wakeRetried = false;
    this.requestPump();
  };
  /** When the latest wake-up (or start) came, and whether an empty claim after it was already tried again. */
  private wokenAt = 0;
  private wakeRetried = false;
  private starting: Promise<void> | undefined;
  private pumpDone: Promise<void> = Promise.resolve();
  private listener: PgListener | undefined;
  private readonly scheduleCursor = new Map<string, Date>();
  private registryUsable = true;
  private unknownStatusCheckedAt = 0;
  private readonly reportedUnknown = new Set<string>();
  /** A stopping runner gives up on writes the database keeps failing after this time (epoch ms). */
  private writeDeadline = Infinity;
  /** Local lease of every task held: a frozen process must not start or finish a task it lost. */
  private readonly leaseClock: LeaseClock;
  private startedAt = new Date();

  constructor(
    private readonly up: UpkeepInternals,
    options: RunnerOptions = {},
  ) {
    this.options = resolveRunnerOptions(options, up.settings.maxQueueSize);
    this.queue = new TaskQueue<MaintenanceTask>(up.settings);
    this.leaseClock = new LeaseClock(this.options.leaseMs);
    this.placement = up.settings.enableResourceTracking ? new DevicePlacement(up.devices) : undefined;
    this.metrics = new MetricRecorder(up.runnerStore.db, (error) => this.reportError('metrics', error));
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

  /** What this runner has done so far. */
  stats(): RunnerStats & { inFlight: number; buffered: number } {
    return { ...this.counters, inFlight: this.inFlight.size, buffered: this.queue.size };
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
    this.startedAt = this.up.now();
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
      this.every(this.up.settings.metricsIntervalMs, () => this.sampleMemory());
    }
    this.every(this.options.heartbeatIntervalMs, () => this.heartbeat());
    // A started runner keeps its process alive (its other timers do not hold the event loop).
    if (!this.options.exitWhenIdle) this.timers.push(setInterval(() => undefined, 60_000));
    this.every(this.options.rescueIntervalMs, () => this.rescueExpired());
    this.every(Math.max(1000, Math.min(this.up.settings.queueTimeoutSeconds * 1000, 30_000)), () => this.handBackStale());
    if (this.options.schedules && this.up.schedules.length && !this.options.exitWhenIdle) {
      this.every(1000, () => this.tickSchedules());
      await this.tickSchedules().catch((error) => this.reportError('schedules', error));
    }
    if (this.options.prune && this.up.retention && !this.options.exitWhenIdle) this.every(this.up.retention.intervalMs, () => this.up.prune());
    if (this.options.listen && this.up.runnerStore.db.dialect === 'postgres' && !this.options.exitWhenIdle) {
      this.listener = new PgListener(this.up.runnerStore.dataSource, this.wake, (error) => this.reportError('listen', error));
      await this.listener.start();
    }
    await this.register();
    this.up.publish('runner:started', { runnerId: this.id, concurrency: this.options.concurrency, processorTypes: this.processorTypes });
    // A runner that starts rescues right away: a restart after a crash should not wait.
    await this.rescueExpired();
    if (!this.stopping) this.wake();
  }

  /** Writes this runner's row in `upkeep_runners`; a registry that cannot be written is reported once and then left alone. */
  private async register(): Promise<void> {
    if (!this.registryUsable) return;
    try {
      await this.up.runnerRegistry.register(
        {
          id: this.id,
          host: hostname(),
          pid: process.pid,
          concurrency: this.options.concurrency,
          processorTypes: this.processorTypes,
          leaseMs: this.options.leaseMs,
          inFlight: this.inFlight.size + this.queue.size,
          startedAt: this.startedAt,
        },
        this.up.now(),
      );
    } catch (error) {
      this.registryUsable = false;
      this.reportError('registry', error);
    }
  }

  /** One statement per heartbeat; a row removed meanwhile (this runner was frozen past its leases) is written again. */
  private async beatRegistry(): Promise<void> {
    if (!this.registryUsable) return;
    const present = await this.up.runnerRegistry.beat(this.id, this.inFlight.size + this.queue.size + this.completions.length, this.up.now()).catch((error) => {
      this.reportError('registry', error);
      return true;
    });
    if (!present) await this.register();
  }

  /** Clears timers and registrations (stop, or a failed start). */
  private teardown(): void {
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
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
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.up.wakeListeners.delete(this.wake);
    await this.listener?.stop();
    this.listener = undefined;
    // A claim in flight finishes first; what it brings back is handed back by pump().
    await this.pumpDone;
    // Not started yet: back to the database at once.
    const notStarted = this.queue.clear();
    await this.handBack(notStarted, 'shutdown');
    if (this.inFlight.size) {
      const allDone = Promise.all([...this.inFlight.values()].map((f) => f.done));
      const timedOut = await Promise.race([allDone.then(() => false), delay(graceMs).then(() => true)]);
      if (timedOut) {
        for (const flight of this.inFlight.values()) this.abortTask(flight, 'shutdown');
        await Promise.race([Promise.all([...this.inFlight.values()].map((f) => f.done)), delay(this.options.interruptGraceMs)]);
        // Still running after the interrupt grace: hand back anyway (the process is going away).
        const stuck = [...this.inFlight.values()].map((f) => f.task);
        await this.handBack(stuck, 'shutdown');
      }
    }
    this.writeDeadline = Date.now() + Math.max(5000, graceMs);
    await this.flushCompletions();
    await this.metrics.flush();
    this.teardown();
    if (this.registryUsable) await this.up.runnerRegistry.remove(this.id).catch((error) => this.reportError('registry', error));
    await this.up.recorder.flush();
    this.running = false;
    this.up.publish('runner:stopped', { runnerId: this.id, handedBack: this.counters.handedBack });
    await this.up.recorder.flush();
    this.resolveIdle();
  }

  private every(ms: number, fn: () => Promise<unknown>): void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      fn()
        .catch((error) => this.reportError('timer', error))
        .finally(() => (busy = false));
    }, ms);
    timer.unref?.();
    this.timers.push(timer);
  }

  private reportError(during: string, error: unknown): void {
    const e = describeThrown(error);
    this.up.logger.error(`runner ${this.id} ${during}: ${e.message}`);
    this.up.events.emit('runner:error', { runnerId: this.id, error: { name: e.name, message: e.message, code: e.code }, during });
  }

  // ---------------------------------------------------------------- claiming

  private requestPump(): void {
    if (!this.running || this.stopping) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumpDone = this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    if (this.pollTimer) {
      clearTimeout(this.pollTimer);
      this.pollTimer = undefined;
    }
    let lastClaimEmpty = false;
    try {
      do {
        this.pumpAgain = false;
        this.dispatch();
        // Keep up to prefetchTarget claimed (running + queued), within maxQueueSize.
        const room = Math.min(this.prefetchTarget - this.inFlight.size, this.up.settings.maxQueueSize) - this.queue.size;
        // Claim when the local queue runs low, so slots refill at once while work remains.
        if (this.stopping || room <= 0 || !this.queueLow) continue;
        const limit = Math.min(room, this.options.claimBatchSize);
        const sentAt = Date.now();
        const claimed = await this.up.runnerStore.claim({
          runnerId: this.id,
          types: this.processorTypes,
          limit,
          leaseMs: this.options.leaseMs,
          now: this.up.now(),
          device: this.soleDevice(),
        });
        this.claimFailures = 0;
        for (const task of claimed) this.leaseClock.renew(task.id, sentAt);
        lastClaimEmpty = claimed.length === 0;
        if (this.stopping) {
          // stop() began while this claim was in flight: these go straight back.
          await this.handBack(claimed, 'shutdown');
          break;
        }
        for (const task of claimed) this.enqueueLocal(task);
        this.counters.claimed += claimed.length;
        this.dispatch();
        if (claimed.length === limit) this.pumpAgain = true;
      } while (this.pumpAgain && !this.stopping);
    } catch (error) {
      this.claimFailures++;
      this.reportError('claim', error);
    } finally {
      this.pumping = false;
    }
    if (this.stopping) return;
    if (lastClaimEmpty) this.checkIdle();
    // Poll again later; a failing database backs off up to 30 s.
    // A claim that came back empty right after a wake-up may have skipped a due row that was
    // locked for a moment (MySQL/MariaDB foreign-key checks of an event insert): look once more soon.
    const retryWake = lastClaimEmpty && !this.wakeRetried && Date.now() - this.wokenAt < 1000;
    if (retryWake) this.wakeRetried = true;
    else if (!lastClaimEmpty) this.wakeRetried = false;
    const wait = this.claimFailures
      ? Math.min(30_000, this.options.pollIntervalMs * 2 ** Math.min(this.claimFailures, 5))
      : retryWake
        ? Math.min(50, this.options.pollIntervalMs)
        : this.options.pollIntervalMs;
    if (!this.pollTimer && !(this.options.exitWhenIdle && lastClaimEmpty && this.isQuiet())) {
      this.pollTimer = setTimeout(() => {
        this.pollTimer = undefined;
        this.requestPump();
      }, wait);
      this.pollTimer.unref?.();
    }
  }

  /** With one healthy device, the claim itself records it: no extra write per task. */
  private soleDevice(): string | undefined {
    if (!this.placement) return undefined;
    const healthy = this.placement.list().filter((d) => d.healthy);
    return healthy.length === 1 ? healthy[0]!.id : undefined;
  }

  private enqueueLocal(task: MaintenanceTask): void {
    const routing = (task.info?.placement as { device?: string } | undefined)?.device ?? ANY;
    if (!this.queue.add(task, task.priority, routing)) {
      // Cannot happen while claims respect the bound; hand it back rather than lose it.
      void this.handBack([task], 'queue_timeout');
    }
  }

  /** Starts queued tasks while slots are free and (with resource tracking) a device has room. */
  /** Tasks a runner keeps claimed (running + queued): max(2 x concurrency, claimBatchSize). */
  private get prefetchTarget(): number {
    return Math.max(this.options.concurrency * 2, this.options.claimBatchSize);
  }

  /** True when the local queue is low enough to claim more. */
  private get queueLow(): boolean {
    return this.queue.size <= Math.max(this.options.concurrency / 2, this.prefetchTarget / 4);
  }

  private dispatch(): void {
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
      const routing = (next?.info?.placement as { device?: string } | undefined)?.device ?? ANY;
      if (next && this.placement.neverFits(routing, next.estimatedMemoryMb ?? 0)) {
        this.queue.remove(next.id);
        this.startTask(next, null, 0, 'device_unavailable');
        continue;
      }
      break; // wait for a running task to free memory
    }
  }

  private isQuiet(): boolean {
    return !this.inFlight.size && !this.queue.size && !this.completions.length && !this.pumping;
  }

  private checkIdle(): void {
    if (!this.options.exitWhenIdle || !this.idleWaiters.length) return;
    if (!this.isQuiet()) return;
    // Confirm with one more claim after the writes: completions may have unblocked dependents.
    void this.flushing.then(() => {
      if (!this.isQuiet()) return;
      if (this.pumpAgain) return;
      this.confirmIdle();
    });
  }

  private async confirmIdle(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    let empty = false;
    try {
      const sentAt = Date.now();
      const claimed = await this.up.runnerStore.claim({
        runnerId: this.id,
        types: this.processorTypes,
        limit: Math.min(this.options.claimBatchSize, this.options.concurrency * 2),
        leaseMs: this.options.leaseMs,
        now: this.up.now(),
        device: this.soleDevice(),
      });
      empty = claimed.length === 0;
      for (const task of claimed) this.leaseClock.renew(task.id, sentAt);
      for (const task of claimed) this.enqueueLocal(task);
      this.counters.claimed += claimed.length;
    } catch (error) {
      this.reportError('claim', error);
    } finally {
      this.pumping = false;
    }
    // A wake-up that arrived during this claim is not lost: claim again.
    if (empty && this.isQuiet() && !this.pumpAgain) {
      await this.up.recorder.flush();
      this.resolveIdle();
    } else {
      this.requestPump();
    }
  }

  private resolveIdle(): void {
    const waiters = this.idleWaiters.splice(0);
    for (const resolve of waiters) resolve();
  }

  // ---------------------------------------------------------------- running

  private startTask(task: MaintenanceTask, device: string | null, reservedMb: number, failWith?: 'device_unavailable'): void {
    const logger = childLogger(this.up.logger, { taskId: task.id, processorType: task.processorType });
    const flight = {} as InFlight;
    if (device !== null) {
      this.placement?.reserve(task.id, device, reservedMb);
      if (task.assignedDevice !== device) {
        task.assignedDevice = device;
        this.up.runnerStore.saveResources(task.id, { assignedDevice: device }).catch((error) => this.reportError('resources', error));
      }
    }
    const ctx = new RunningTaskContext(task, this.id, logger, device, this.up.runnerStore.dataSource, this.up.services, {
      onProgress: (done, total) => this.onProgress(flight, done, total),
      onCursor: () => this.onProgress(flight, flight.ctx.progressDone, flight.ctx.progressTotal, false),
      onStage: (stage) => {
        this.up.events.emit('task:stage', { task, stage });
        if (this.placement) this.sample(flight);
      },
      acquire: (pool, opts) => this.acquireFor(flight, pool, opts),
      reportMemory: (mb) => {
        flight.reportedMemoryMb = mb;
        this.checkLimit(flight, mb);
      },
      transaction: (fn) => this.runInTransaction(flight, fn),
      heartbeat: async () => {
        // Awaited by processor code, maybe inside its own transaction: the foreground store.
        const sentAt = Date.now();
        if (await this.up.store.renewLease(this.id, task.id, this.options.leaseMs, this.up.now())) this.leaseClock.renew(task.id, sentAt);
      },
    });
    Object.assign(flight, {
      task,
      ctx,
      startedAt: Date.now(),
      lastProgressWrite: 0,
      device,
      reservedMb,
      rssAtStartMb: this.placement ? rssMb() : 0,
      peakMemoryMb: 0,
      warned: false,
      leases: [],
    });
    this.inFlight.set(task.id, flight);
    // Start on the next turn of the event loop: with a synchronous driver (better-sqlite3)
    // a chain of tasks would otherwise never let timers (timeouts, heartbeats) run.
    flight.done = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.runTask(flight, failWith))
      .catch((error) => this.reportError(`task ${task.id}`, error))
      .finally(() => {
        if (flight.progressTimer) clearTimeout(flight.progressTimer);
        if (flight.tx) void flight.tx.rollback();
        // A newer attempt of the same task (re-claimed while this one ignored its signal)
        // owns the entry now; only remove our own.
        if (this.inFlight.get(task.id) === flight) {
          this.inFlight.delete(task.id);
          if (!this.completions.some((c) => c.task.id === task.id)) this.leaseClock.forget(task.id);
        }
        this.placement?.release(task.id);
        this.dispatch();
        if (this.queueLow) this.requestPump();
        else if (this.isQuiet()) this.checkIdle();
      });
  }

  /** `ctx.transaction(fn)`: `fn` writes in a transaction the task's completion joins later. */
  private async runInTransaction<T>(flight: InFlight, fn: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (flight.tx) throw new InvalidArgumentError('ctx.transaction() may be called once per attempt');
    const tx = await openTaskTransaction(this.up.runnerStore.dataSource);
    flight.tx = tx;
    try {
      return await fn(tx.manager);
    } catch (error) {
      flight.tx = undefined;
      await tx.rollback();
      throw error;
    }
  }

  /** Commits the task's COMPLETED write together with the processor's writes of `ctx.transaction`. */
  private async completeInTransaction(flight: InFlight, tx: TaskTransaction, c: PendingCompletion, processor: MaintenanceTaskProcessor | undefined): Promise<void> {
    const now = this.up.now();
    try {
      const held = await this.up.runnerStore.completeIn(tx.executor, this.id, toCompletionRow(c), now);
      if (!held) {
        await tx.rollback();
        this.leaseClock.forget(c.task.id);
        return this.lostRace(c.task, 'completion');
      }
      await tx.commit();
    } catch (error) {
      await tx.rollback();
      this.reportError('complete', error);
      // Nothing of the attempt was kept: it failed as any attempt does, and may run again.
      const e = describeThrown(error);
      const failed: Outcome = { kind: 'failed', reason: 'processor_error', retryable: true, error: { name: e.name, message: `ctx.transaction() could not commit: ${e.message}`, code: e.code } };
      return this.finish(flight, failed, c.cleanupDone, processor);
    }
    this.afterCompletions([c], new Set([c.task.id]), now);
  }

  private abortTask(flight: InFlight, action: 'cancel' | 'pause' | 'shutdown' | 'lease_lost'): void {
    if (flight.ctx.signal.aborted) return;
    const reason =
      action === 'cancel'
        ? new TaskCancelledError(`Task ${flight.task.id} was cancelled`)
        : new TaskInterruptedError(action, `Task ${flight.task.id} was interrupted (${action})`);
    flight.ctx.controller.abort(reason);
  }

  private timeoutFor(task: MaintenanceTask): number {
    const meta = this.up.registry.get(task.processorType)?.meta;
    return task.timeoutMs ?? meta?.options.timeoutMs ?? this.up.settings.defaultTimeoutMs;
  }

  /** Restores the processor from its stored JSON, or says why it cannot be. */
  private loadProcessor(task: MaintenanceTask): { processor: MaintenanceTaskProcessor } | { failure: Outcome } {
    const registered = this.up.registry.get(task.processorType);
    if (!registered) {
      return {
        failure: {
          kind: 'failed',
          reason: 'unknown_processor',
          retryable: false,
          error: { name: 'UnknownProcessorError', message: `No processor is registered under "${task.processorType}"`, code: 'UNKNOWN_PROCESSOR' },
        },
      };
    }
    try {
      const plain = parseProcessorJson(task.processorJson);
      const processor = instantiateProcessor(registered.cls, plain);
      validateProcessor(processor, registered.meta.name);
      return { processor };
    } catch (error) {
      const e = describeThrown(error);
      const message = error instanceof SyntaxError ? `processor_json is not valid JSON: ${e.message}` : e.message;
      return { failure: { kind: 'failed', reason: 'invalid_config', retryable: false, error: { name: e.name, message, code: e.code ?? 'INVALID_CONFIG' } } };
    }
  }

  private async runTask(flight: InFlight, failWith?: 'device_unavailable'): Promise<void> {
    const { task } = flight;
    // A task whose lease ran out while it waited here (the process was frozen) is not started.
    if (!(await this.holdsLease(task))) {
      this.leaseClock.forget(task.id);
      return;
    }
    this.up.publish('task:started', { task, runnerId: this.id, attempt: task.attempts });
    const loaded = this.loadProcessor(task);
    let outcome: Outcome;
    let processor: MaintenanceTaskProcessor | undefined;
    if (failWith) {
      const message = `No device can hold the ${task.estimatedMemoryMb} MiB this task needs`;
      outcome = { kind: 'failed', reason: 'device_unavailable', retryable: false, error: { name: 'DeviceUnavailableError', message, code: 'DEVICE_UNAVAILABLE' } };
    } else if ('failure' in loaded) {
      outcome = loaded.failure;
    } else {
      processor = loaded.processor;
      const limit = this.up.settings.enableResourceTracking ? processor.resources?.().memoryLimitMb : undefined;
      if (limit !== undefined) flight.memoryLimitMb = limit;
      outcome = await this.execute(flight, processor);
    }
    // Writes of ctx.transaction stand only with a completion.
    if (flight.tx && outcome.kind !== 'completed') {
      await flight.tx.rollback();
      flight.tx = undefined;
    }
    // The measured peak includes the end state; rows are only written by the interval and stage changes.
    if (this.placement && outcome.kind !== 'lease_lost') flight.peakMemoryMb = Math.max(flight.peakMemoryMb, this.memoryOf(flight));
    const cleanupDone = await this.cleanup(flight, processor);
    await this.finish(flight, outcome, cleanupDone, processor);
  }

  /** The outcome of an attempt that was interrupted (cancel, pause, shutdown, lost lease). */
  private interruptedOutcome(reason: unknown): Outcome | undefined {
    if (reason instanceof TaskCancelledError) return { kind: 'cancelled', by: 'admin' };
    if (reason instanceof TaskInterruptedError) {
      return reason.kind === 'pause' ? { kind: 'paused' } : reason.kind === 'shutdown' ? { kind: 'handed_back' } : { kind: 'lease_lost' };
    }
    return undefined;
  }

  /** Runs the processor against its timeout and interruptions; never throws. */
  private async execute(flight: InFlight, processor: MaintenanceTaskProcessor): Promise<Outcome> {
    const { task, ctx } = flight;
    // Interrupted before it started (cancelled or paused while waiting for its turn).
    const early = ctx.signal.aborted ? this.interruptedOutcome(ctx.signal.reason) : undefined;
    if (early) return early;
    const timeoutMs = this.timeoutFor(task);
    ctx.deadline = Date.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let graceTimer: NodeJS.Timeout | undefined;
    const interrupted = new Promise<'timeout' | 'grace'>((resolve) => {
      timer = setTimeout(() => {
        ctx.controller.abort(new TaskTimeoutError(`Task ${task.id} timed out after ${timeoutMs} ms`));
        resolve('timeout');
      }, timeoutMs);
      ctx.signal.addEventListener('abort', () => {
        if (ctx.signal.reason instanceof TaskTimeoutError) return;
        // Cancel, pause, shutdown: give the processor a moment to stop at a safe point.
        graceTimer = setTimeout(() => resolve('grace'), this.options.interruptGraceMs);
      });
    });
    const run = (async () => processor.process(task, ctx))().then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    const settled = await Promise.race([run, interrupted]);
    clearTimeout(timer);
    clearTimeout(graceTimer);
    const reason: unknown = ctx.signal.aborted ? ctx.signal.reason : undefined;
    if (settled === 'timeout' || reason instanceof TaskTimeoutError) {
      return { kind: 'failed', reason: 'timeout', retryable: true, error: { name: 'TaskTimeoutError', message: `Timed out after ${timeoutMs} ms`, code: 'TIMEOUT' } };
    }
    if (typeof settled === 'object' && settled.ok) {
      // Work that finished is kept even if a stop request arrived meanwhile.
      try {
        return { kind: 'completed', result: toStorableResult(settled.value, { maxJsonChars: RESULT_LIMITS.maxJsonChars }) };
      } catch (error) {
        const e = describeThrown(error);
        return { kind: 'failed', reason: 'result_not_serializable', retryable: false, error: { name: e.name, message: e.message, code: e.code } };
      }
    }
    const interruptedBy = this.interruptedOutcome(reason);
    if (interruptedBy) return interruptedBy;
    const error = typeof settled === 'object' && !settled.ok ? settled.error : undefined;
    // The processor cancelled itself (threw TaskCancelledError without being asked to stop).
    if (error instanceof TaskCancelledError) return { kind: 'cancelled', by: 'processor' };
    const e = describeThrown(error);
    if (reason instanceof MemoryLimitExceededError || error instanceof MemoryLimitExceededError) {
      const r = reason instanceof MemoryLimitExceededError ? reason : (error as MemoryLimitExceededError);
      return { kind: 'failed', reason: 'memory_limit_exceeded', retryable: false, error: { name: r.name, message: r.message, code: r.code } };
    }
    if (isOutOfMemoryError(error)) return { kind: 'failed', reason: 'out_of_memory', retryable: true, error: e, thrown: error };
    if (isUpkeepError(error) && (error.code === 'POOL_EXHAUSTED' || error.code === 'DEVICE_UNAVAILABLE')) {
      return { kind: 'failed', reason: error.code === 'POOL_EXHAUSTED' ? 'pool_exhausted' : 'device_unavailable', retryable: true, error: e };
    }
    return {
      kind: 'failed',
      reason: 'processor_error',
      retryable: !(error instanceof UnrecoverableTaskError) && !(isUpkeepError(error) && error.code === 'UNRECOVERABLE'),
      error: e,
    };
  }

  /**
   * Runs the cleanup hooks (the context's in reverse order, then the processor's), bounded
   * by cleanupTimeoutSeconds; then, whatever they did, returns pooled services and removes
   * temp folders, so a hanging hook cannot leak either.
   */
  private async cleanup(flight: InFlight, processor: MaintenanceTaskProcessor | undefined): Promise<boolean> {
    const { task, ctx } = flight;
    const hooks = [...ctx.cleanups.slice(1).reverse(), ...(processor?.cleanup ? [() => processor.cleanup!(task, ctx)] : [])];
    const started = Date.now();
    const tracked = this.up.settings.enableResourceTracking;
    const reported = hooks.length + flight.leases.length;
    if (tracked && reported > 0) this.up.publish('cleanup:started', { taskId: task.id, hooks: reported });
    const errors: EventError[] = [];
    const runAll = async (list: Array<() => unknown>) => {
      for (const hook of list) {
        try {
          await hook();
        } catch (error) {
          const e = describeThrown(error);
          errors.push({ name: e.name, message: e.message });
        }
      }
    };
    const budgetMs = this.up.settings.cleanupTimeoutSeconds * 1000;
    const timedOut = await withTimeout(runAll(hooks), budgetMs);
    // Upkeep's own steps run even after a hook hung, with their own bound.
    const internalTimedOut = await withTimeout(runAll([() => this.releaseLeases(flight), ctx.cleanups[0]!]), budgetMs);
    if (tracked && reported > 0) {
      this.up.publish('cleanup:completed', { taskId: task.id, durationMs: Date.now() - started, timedOut: timedOut || internalTimedOut, errors });
    }
    if (timedOut) ctx.logger.warn(`cleanup of task ${task.id} was cut off after ${this.up.settings.cleanupTimeoutSeconds} s`);
    return !timedOut && !internalTimedOut && errors.length === 0;
  }

  /** Writes the outcome of an attempt with a conditional update, then emits its event. */
  private async finish(flight: InFlight, outcome: Outcome, cleanupDone: boolean, processor: MaintenanceTaskProcessor | undefined): Promise<void> {
    const { task, ctx } = flight;
    // (A completion inside ctx.transaction is checked by its own guarded write: on SQLite a
    // renewal outside that transaction would wait for it.)
    if (outcome.kind !== 'lease_lost' && outcome.kind !== 'handed_back' && !(flight.tx && outcome.kind === 'completed') && !(await this.holdsLease(task))) {
      await flight.tx?.rollback();
      flight.tx = undefined;
      // The lease ran out before the outcome could be written: another runner owns the task.
      this.leaseClock.forget(task.id);
      return;
    }
    const now = this.up.now();
    // Only this claim of the task may write its outcome (not a stale attempt of the same runner),
    // and an admin's pending cancel or pause wins over a retry or pause written here.
    const guard = { lockedBy: this.id, from: ['WORKING' as const], version: task.version, noControl: true };
    const base = {
      ...(this.placement ? { actualMemoryMb: Math.round(flight.peakMemoryMb) } : {}),
      cursor: ctx.latestCursor,
      progressDone: ctx.progressDone,
      progressTotal: ctx.progressTotal,
      resourceCleanupCompleted: cleanupDone,
      releaseLease: true,
    };
    switch (outcome.kind) {
      case 'completed': {
        const info: TaskInfo = { ...(task.info ?? {}), result: outcome.result };
        delete info.error;
        if (this.placement) task.actualMemoryMb = Math.round(flight.peakMemoryMb);
        const completion = { task, info, result: outcome.result, durationMs: Date.now() - flight.startedAt, cleanupDone, progressDone: ctx.progressDone };
        const tx = flight.tx;
        if (tx) {
          flight.tx = undefined;
          return this.completeInTransaction(flight, tx, completion, processor);
        }
        this.completions.push(completion);
        this.scheduleFlush();
        return;
      }
      case 'failed': {
        const attempts = [...(task.info?.attempts ?? []), { attempt: task.attempts, at: now.toISOString(), reason: outcome.reason, message: outcome.error.message }];
        const info: TaskInfo = { ...(task.info ?? {}), error: { ...outcome.error, attempt: task.attempts }, attempts };
        let willRetry = outcome.retryable && !NON_RETRYABLE.has(outcome.reason) && task.attempts < task.maxAttempts;
        let processorJson = processor && willRetry ? this.propsOf(processor, task) : undefined;
        let priority: number | undefined;
        if (outcome.reason === 'out_of_memory') {
          const ranOn = ctx.device ?? flight.device; // a pooled service's device wins over placement
          const device = this.placement?.list().find((d) => d.id === ranOn);
          const decision = this.errorHandler.handleOomError(task, { error: outcome.thrown, device: ranOn, processor, deviceFreeMb: device?.freeMemoryMb ?? null });
          willRetry = decision.action !== 'give_up';
          if (decision.processorJson) processorJson = decision.processorJson;
          if (decision.routeDevice) info.placement = { device: decision.routeDevice, reason: 'oom_cpu_fallback' };
          info.oom = { batchFactor: decision.batchFactor, memory: decision.memory };
          priority = task.priority - 1; // the seed: requeue with lower priority
        }
        if (willRetry) {
          const meta = this.up.registry.get(task.processorType)?.meta;
          const wait = retryDelayMs(task.attempts, this.up.settings.retry, meta?.options.backoff);
          const retryAt = new Date(now.getTime() + wait);
          const ok = await this.writeOutcome('retry', () =>
            this.up.runnerStore.transition(
              task.id,
              'PENDING',
              { ...base, info, failureReason: outcome.reason, lastError: outcome.error.message, startAt: retryAt, delay: wait, processorJson, priority },
              now,
              guard,
            ),
          );
          if (!ok) return this.lostRace(task, 'retry');
          Object.assign(task, { status: 'PENDING', info, failureReason: outcome.reason, lastError: outcome.error.message, startAt: retryAt });
          if (processorJson) task.processorJson = processorJson;
          if (priority !== undefined) task.priority = priority;
          this.counters.retried++;
          this.up.publish('task:failed', { task, error: outcome.error, reason: outcome.reason, willRetry: true, retryAt });
          return;
        }
        const finalGuard = { ...guard, noControl: false }; // a final failure stands whatever was requested
        const ok = await this.writeOutcome('fail', () =>
          this.up.runnerStore.transition(task.id, 'ERROR', { ...base, info, failureReason: outcome.reason, lastError: outcome.error.message, finished: true }, now, finalGuard),
        ).catch(async (error: unknown) => {
          // The database refused something in the details: keep the reason and a message it takes.
          const message = `The database refused the error details: ${describeThrown(error).message}`;
          const bare: TaskInfo = { error: { name: 'UnstorableError', message, code: 'UNSTORABLE_ERROR', attempt: task.attempts } };
          return this.writeOutcome('fail', () =>
            this.up.runnerStore.transition(task.id, 'ERROR', { ...base, cursor: undefined, info: bare, failureReason: outcome.reason, lastError: message, finished: true }, now, finalGuard),
          );
        });
        if (!ok) return this.lostRace(task, 'fail');
        Object.assign(task, { status: 'ERROR', info, failureReason: outcome.reason, lastError: outcome.error.message, finishedAt: now });
        this.counters.failed++;
        this.up.publish('task:failed', { task, error: outcome.error, reason: outcome.reason, willRetry: false });
        await this.cancelDependents([task.id]);
        return;
      }
      case 'cancelled': {
        const message = outcome.by === 'processor' ? 'The processor cancelled the task' : 'Cancelled while running';
        const info: TaskInfo = { ...(task.info ?? {}), error: { name: 'TaskCancelledError', message, code: 'CANCELLED' } };
        const ok = await this.writeOutcome('cancel', () =>
          this.up.runnerStore.transition(task.id, 'CANCELLED', { ...base, info, failureReason: 'cancelled', lastError: message, finished: true }, now, { ...guard, noControl: false }),
        );
        if (!ok) return this.lostRace(task, 'cancel');
        Object.assign(task, { status: 'CANCELLED', info, failureReason: 'cancelled', finishedAt: now });
        this.counters.cancelled++;
        this.up.publish('task:cancelled', { task, reason: 'cancelled', by: outcome.by });
        await this.cancelDependents([task.id]);
        return;
      }
      case 'paused': {
        // A pause does not use up an attempt.
        const ok = await this.writeOutcome('pause', () =>
          this.up.runnerStore.transition(task.id, 'PAUSED', { ...base, attempts: Math.max(0, task.attempts - 1) }, now, { ...guard, noControl: false }),
        );
        if (!ok) return this.lostRace(task, 'pause');
        Object.assign(task, { status: 'PAUSED', cursor: ctx.latestCursor });
        this.counters.paused++;
        this.up.publish('task:paused', { task });
        return;
      }
      case 'handed_back': {
        await this.handBack([task], 'shutdown', ctx.latestCursor, cleanupDone);
        return;
      }
      case 'lease_lost':
        this.up.logger.warn(`task ${task.id}: lease lost while running; its result is dropped (another runner owns it now)`);
        return;
    }
  }

  /** After a refused outcome write: if an admin asked to cancel or pause this claim, do it. */
  private async honourControl(task: MaintenanceTask): Promise<void> {
    const current = await this.up.runnerStore.getTask(task.id);
    if (!current || current.status !== 'WORKING' || current.lockedBy !== this.id || current.version !== task.version || !current.control) return;
    const now = this.up.now();
    const guard = { lockedBy: this.id, from: ['WORKING' as const], version: task.version };
    if (current.control === 'cancel') {
      const info: TaskInfo = { ...(current.info ?? {}), error: { name: 'TaskCancelledError', message: 'Cancelled while running', code: 'CANCELLED' } };
      if (await this.up.runnerStore.transition(task.id, 'CANCELLED', { info, failureReason: 'cancelled', lastError: 'Cancelled while running', finished: true, releaseLease: true }, now, guard)) {
        Object.assign(task, { status: 'CANCELLED', info, failureReason: 'cancelled', finishedAt: now });
        this.counters.cancelled++;
        this.up.publish('task:cancelled', { task, reason: 'cancelled', by: 'admin' });
        await this.cancelDependents([task.id]);
      }
    } else if (await this.up.runnerStore.transition(task.id, 'PAUSED', { releaseLease: true, attempts: Math.max(0, task.attempts - 1) }, now, guard)) {
      Object.assign(task, { status: 'PAUSED' });
      this.counters.paused++;
      this.up.publish('task:paused', { task });
    }
  }

  /**
   * The processor's props to store for the next attempt; if the processor put something on
   * itself that JSON cannot hold, the stored props stay as they were.
   */
  private propsOf(processor: MaintenanceTaskProcessor, task: MaintenanceTask): string | undefined {
    try {
      return serializeProcessor(processor);
    } catch (error) {
      this.up.logger.warn(`task ${task.id}: keeping the stored props: ${(error as Error).message}`);
      return undefined;
    }
  }

  private lostRace(task: MaintenanceTask, what: string): void {
    // Lost to a pending admin request? Honour it now (the guard refused because of it).
    void this.honourControl(task).catch((error) => this.reportError('control', error));
    this.up.logger.warn(`task ${task.id}: could not record ${what}: the task is no longer WORKING under ${this.id}`);
  }

  private async cancelDependents(ids: string[]): Promise<void> {
    const cancelled = await this.up.runnerStore.cancelDependents(ids, this.up.now());
    if (!cancelled.length) return;
    const tasks = await this.up.runnerStore.getTasks(cancelled);
    for (const task of tasks.values()) this.up.publish('task:cancelled', { task, reason: 'dependency_failed', by: 'dependency' });
  }

  private onProgress(flight: InFlight, done: number | null, total: number | null, emit = true): void {
    const { task } = flight;
    task.progressDone = done;
    task.progressTotal = total;
    if (emit && done !== null) this.up.events.emit('task:progress', { task, done, total });
    // Persist at most about once a second; a trailing write catches the last value.
    if (flight.progressTimer) return;
    const since = Date.now() - flight.lastProgressWrite;
    const write = () => {
      flight.progressTimer = undefined;
      flight.lastProgressWrite = Date.now();
      if (!this.inFlight.has(task.id)) return;
      this.up.runnerStore
        .saveProgress(this.id, task.id, { done: flight.ctx.progressDone, total: flight.ctx.progressTotal, cursor: flight.ctx.latestCursor }, this.up.now())
        .catch((error) => this.reportError('progress', error));
    };
    if (since >= PROGRESS_WRITE_INTERVAL_MS) write();
    else {
      flight.progressTimer = setTimeout(write, PROGRESS_WRITE_INTERVAL_MS - since);
      flight.progressTimer.unref?.();
    }
  }

  // ---------------------------------------------------------------- writes

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flushCompletions();
    });
  }

  private flushCompletions(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      let failures = 0;
      while (this.completions.length) {
        const batch = this.completions.splice(0);
        const now = this.up.now();
        try {
          const written = new Set(await this.up.runnerStore.completeMany(this.id, batch.map(toCompletionRow), now));
          failures = 0;
          this.afterCompletions(batch, written, now);
          continue;
        } catch (error) {
          this.reportError('complete', error);
          const kind = classifyWriteError(error, this.up.runnerStore.db.dialect);
          // A refused value (or an error that keeps coming back): find the row, write the others.
          if (kind === 'refused' || (kind === 'unknown' && failures >= 2)) {
            await this.writeOneByOne(batch, now);
            if (!this.completions.length) continue;
          } else this.completions.unshift(...batch);
        }
        // A passing outage: wait and write the same results again; the outcome never changes.
        failures++;
        if (this.pastWriteDeadline()) {
          // Stopping and the database is still away: the leases lapse and the tasks are rescued.
          const dropped = this.completions.splice(0);
          for (const c of dropped) this.leaseClock.forget(c.task.id);
          this.up.logger.warn(`runner ${this.id}: ${dropped.length} result(s) could not be written before the stop deadline; their tasks will be rescued and run again`);
          break;
        }
        await delay(writeBackoffMs(failures));
      }
    });
    return this.flushing.then(() => {
      if (this.isQuiet()) this.checkIdle();
      // Completed tasks may have unblocked dependents: look for them now, not at the next poll.
      if (this.queueLow) this.requestPump();
    });
  }

  /** Writes each result on its own: a refused one fails its task, a passing failure is written again later. */
  private async writeOneByOne(batch: PendingCompletion[], now: Date): Promise<void> {
    for (const c of batch) {
      try {
        const written = new Set(await this.up.runnerStore.completeMany(this.id, [toCompletionRow(c)], now));
        this.afterCompletions([c], written, now);
      } catch (error) {
        const kind = classifyWriteError(error, this.up.runnerStore.db.dialect);
        c.failures = (c.failures ?? 0) + 1;
        if (kind === 'refused' || (kind === 'unknown' && c.failures >= 5)) await this.failCompletion(c, error);
        else this.completions.push(c);
      }
    }
  }

  /** The database refused a result: the attempt ends in ERROR with result_not_serializable. */
  private async failCompletion(c: PendingCompletion, error: unknown): Promise<void> {
    const e = describeThrown(error);
    const message = `The database refused the result: ${e.message}`;
    const info: TaskInfo = { ...(c.task.info ?? {}), error: { name: 'ResultSerializationError', message, code: 'RESULT_NOT_SERIALIZABLE' } };
    delete info.result;
    this.leaseClock.forget(c.task.id);
    const ok = await this.writeOutcome('fail', () =>
      this.up.runnerStore.transition(c.task.id, 'ERROR', { info, failureReason: 'result_not_serializable', lastError: message, finished: true, releaseLease: true }, this.up.now(), {
        lockedBy: this.id,
        from: ['WORKING'],
        version: c.task.version,
      }),
    ).catch(() => false);
    if (!ok) return this.lostRace(c.task, 'failure of an unwritable result');
    Object.assign(c.task, { status: 'ERROR', info, failureReason: 'result_not_serializable', lastError: message });
    this.counters.failed++;
    this.up.publish('task:failed', { task: c.task, error: { name: 'ResultSerializationError', message, code: 'RESULT_NOT_SERIALIZABLE' }, reason: 'result_not_serializable', willRetry: false });
    await this.cancelDependents([c.task.id]);
  }

  /** Past the time a stopping runner gives its writes (a running one never gives up on a passing outage). */
  private pastWriteDeadline(): boolean {
    return this.stopping && Date.now() > this.writeDeadline;
  }

  /**
   * Runs one outcome write; a failure for a passing reason (connection lost, deadlock, lock
   * timeout) is retried with backoff and the outcome stays what it was. A refused value, or a
   * stopping runner past its deadline, throws.
   */
  private async writeOutcome<T>(what: string, write: () => Promise<T>): Promise<T> {
    for (let failures = 1; ; failures++) {
      try {
        return await write();
      } catch (error) {
        const kind = classifyWriteError(error, this.up.runnerStore.db.dialect);
        if (kind === 'refused' || (kind === 'unknown' && failures >= 5) || this.pastWriteDeadline()) throw error;
        this.reportError(what, error);
        await delay(writeBackoffMs(failures));
      }
    }
  }

  private afterCompletions(batch: PendingCompletion[], written: Set<string>, now: Date): void {
    for (const c of batch) {
      this.leaseClock.forget(c.task.id);
      if (!written.has(c.task.id)) {
        this.lostRace(c.task, 'completion');
        continue;
      }
      Object.assign(c.task, { status: 'COMPLETED', info: c.info, finishedAt: now, failureReason: null, lockedBy: null });
      this.counters.completed++;
      this.up.publish('task:completed', { task: c.task, info: c.result, durationMs: c.durationMs });
    }
  }

  // ---------------------------------------------------------------- leases

  private async heartbeat(): Promise<void> {
    // Only what this runner is tracking: running, queued, or waiting for its result to be
    // written. A task whose outcome could not be written is not renewed, so it is rescued.
    const tracked = new Set<string>([...this.inFlight.keys(), ...this.queue.list().map((q) => q.task.id), ...this.completions.map((c) => c.task.id)]);
    await this.beatRegistry();
    if (!tracked.size) return;
    const sentAt = Date.now();
    const held = await this.up.runnerStore.heartbeat(this.id, [...tracked], this.options.leaseMs, this.up.now());
    const heldIds = new Map(held.map((h) => [h.id, h.control]));
    for (const id of heldIds.keys()) this.leaseClock.renew(id, sentAt);
    for (const flight of this.inFlight.values()) {
      // Only tasks this heartbeat asked about: one claimed while it was on its way is not lost.
      if (!tracked.has(flight.task.id) || flight.ctx.signal.aborted) continue;
      if (!heldIds.has(flight.task.id)) {
        // Written meanwhile by someone else (admin reset, rescue after a long pause).
        if (!this.completions.some((c) => c.task.id === flight.task.id)) this.abortTask(flight, 'lease_lost');
        continue;
      }
      const control = heldIds.get(flight.task.id);
      if (control) this.abortTask(flight, control);
    }
  }

  /**
   * True when this runner still holds `task`: its local lease clock has time left, or (when
   * it ran out, e.g. after the process was frozen) the database renews the lease of this
   * very claim. Checked before a task starts and before its outcome is written.
   */
  private async holdsLease(task: MaintenanceTask): Promise<boolean> {
    if (this.leaseClock.valid(task.id)) return true;
    const sentAt = Date.now();
    const renewed = await this.up.runnerStore.renewLease(this.id, task.id, this.options.leaseMs, this.up.now(), task.version).catch((error) => {
      this.reportError('lease', error);
      return false;
    });
    if (renewed) this.leaseClock.renew(task.id, sentAt);
    else this.up.logger.warn(`task ${task.id}: its lease ran out while this runner held it (frozen or overloaded); another runner owns it now`);
    return renewed;
  }

  /** Requeues (or fails with LEASE_EXPIRED) tasks whose runner stopped renewing them. */
  private async rescueExpired(): Promise<void> {
    const now = this.up.now();
    const expired = await this.up.runnerStore.findExpiredLeases(now, 100);
    for (const task of expired) {
      const previousRunner = task.lockedBy;
      if (task.control) {
        // An admin asked to cancel or pause the task before its runner died: honour it.
        const to = task.control === 'cancel' ? 'CANCELLED' : 'PAUSED';
        const cancelled = to === 'CANCELLED';
        const ok = await this.up.runnerStore.rescue(task, to, cancelled ? { failureReason: 'cancelled', lastError: 'Cancelled while its runner was gone' } : {}, now);
        if (!ok) continue;
        this.counters.rescued++;
        Object.assign(task, { status: to, lockedBy: null, leaseExpiresAt: null });
        if (cancelled) {
          this.up.publish('task:cancelled', { task, reason: 'cancelled', by: 'admin' });
          await this.cancelDependents([task.id]);
        } else this.up.publish('task:paused', { task });
        continue;
      }
      const requeue = task.attempts < task.maxAttempts;
      const message = `Lease of runner ${previousRunner ?? '?'} expired while the task ran (attempt ${task.attempts})`;
      const attempts = [...(task.info?.attempts ?? []), { attempt: task.attempts, at: now.toISOString(), reason: 'lease_expired', message }];
      const info: TaskInfo = { ...(task.info ?? {}), attempts, ...(requeue ? {} : { error: { name: 'LeaseExpired', message, code: 'LEASE_EXPIRED' } }) };
      const ok = await this.up.runnerStore.rescue(
        task,
        requeue ? 'PENDING' : 'ERROR',
        { info, lastError: message, failureReason: 'lease_expired', startAt: requeue ? now : undefined },
        now,
      );
      if (!ok) continue;
      this.counters.rescued++;
      Object.assign(task, { status: requeue ? 'PENDING' : 'ERROR', info, lockedBy: null, leaseExpiresAt: null });
      this.up.publish('task:lease-expired', { task, previousRunner, requeued: requeue });
      if (!requeue) {
        this.up.publish('task:failed', {
          task,
          error: { name: 'LeaseExpired', message, code: 'LEASE_EXPIRED' },
          reason: 'lease_expired',
          willRetry: false,
        });
        await this.cancelDependents([task.id]);
      }
    }
    // Tasks of a type no runner has claimed for a long time: no running build knows it.
    if (this.options.unknownTypeTimeoutMs > 0) {
      const failedUnknown = await this.up.runnerStore.failUnknownTypes(this.processorTypes, new Date(now.getTime() - this.options.unknownTypeTimeoutMs), now, 100);
      for (const task of failedUnknown) {
        this.up.publish('task:failed', { task, error: task.info!.error as EventError, reason: 'unknown_processor', willRetry: false });
        await this.cancelDependents([task.id]);
      }
    }
    await this.reportUnknownStatuses();
    // Rows of runners that died without removing themselves.
    if (this.registryUsable) await this.up.runnerRegistry.removeStale(now).catch((error) => this.reportError('registry', error));
    // Dependents of tasks that failed while they were being created.
    const failed = await this.up.runnerStore.findBlockedByFailure(100);
    if (failed.length) await this.cancelDependents(failed);
    if (expired.length) this.requestPump();
  }

  /**
   * A status written by hand that upkeep does not know leaves the task alone forever: say so,
   * once per task (runner:error, during `unknown-status`); `metrics().statusCounts` counts it.
   * At most once a minute (the query reads every row's status).
   */
  private async reportUnknownStatuses(): Promise<void> {
    if (Date.now() - this.unknownStatusCheckedAt < 60_000) return;
    this.unknownStatusCheckedAt = Date.now();
    for (const { id, status } of await this.up.runnerStore.findUnknownStatuses(100)) {
      if (this.reportedUnknown.has(id)) continue;
      this.reportedUnknown.add(id);
      const message = `Task ${id} has status ${JSON.stringify(status)}, which upkeep does not know; no runner will touch it until it is set to a known status`;
      this.up.logger.error(`runner ${this.id}: ${message}`);
      this.up.events.emit('runner:error', { runnerId: this.id, error: { name: 'UnknownStatus', message, code: 'UNKNOWN_STATUS' }, during: 'unknown-status' });
    }
  }

  /** Enqueues each due cron occurrence; unique keys make every runner's insert but one a no-op. */
  private async tickSchedules(): Promise<void> {
    const now = this.up.now();
    for (const schedule of this.up.schedules) {
      let after = this.scheduleCursor.get(schedule.def.name);
      if (!after) {
        // First tick of this runner: continue after the latest occurrence any runner enqueued.
        after = (await this.up.runnerStore.latestOccurrenceWithKeyPrefix(schedule.keyPrefix)) ?? now;
      }
      const due = schedule.due(after, now);
      if (due.length) {
        const results = await this.up.enqueue(
          due.map((occurrence) => ({
            processor: schedule.processorFor(occurrence),
            uniqueKey: schedule.keyOf(occurrence),
            startAt: occurrence,
            priority: schedule.def.priority,
            maxAttempts: schedule.def.maxAttempts,
            timeoutMs: schedule.def.timeoutMs,
          })),
        );
        results.forEach((r, i) => {
          if (r.created) this.up.events.emit('schedule:enqueued', { name: schedule.def.name, occurrence: due[i]!, task: r.task });
        });
      }
      this.scheduleCursor.set(schedule.def.name, now > after ? now : after);
    }
  }

  /** Tasks claimed but not started for longer than queueTimeoutSeconds go back to the database. */
  private async handBackStale(): Promise<void> {
    const stale = this.queue.takeExpired();
    if (stale.length) await this.handBack(stale, 'queue_timeout');
  }

  // ---------------------------------------------------------------- resources

  /** `ctx.acquire(pool)`: a pooled service for this task, released at cleanup. */
  private async acquireFor<T>(flight: InFlight, pool: ServicePool<T>, opts: AcquireOptions = {}): Promise<ServiceLease<T>> {
    const { task, ctx } = flight;
    this.up.pools.add(pool);
    // A task placed for a reason (a memory estimate or a device preference) asks for that
    // device; otherwise the pool chooses.
    const preferred = (task.info?.placement as { device?: string } | undefined)?.device;
    const placed = flight.device !== null && (task.estimatedMemoryMb !== null || preferred !== undefined);
    const request: AcquireOptions = { device: opts.device ?? (placed ? flight.device! : (preferred ?? 'auto')), signal: opts.signal ?? ctx.signal };
    const memoryMb = opts.memoryMb ?? task.estimatedMemoryMb ?? undefined;
    if (memoryMb !== undefined) request.memoryMb = memoryMb;
    if (opts.timeoutMs !== undefined) request.timeoutMs = opts.timeoutMs;
    const lease = await pool.acquire(request);
    flight.leases.push(lease as ServiceLease<unknown>);
    task.assignedDevice = lease.device;
    task.serviceInstanceId = lease.instanceId;
    ctx.device = lease.device;
    // Awaited by processor code (ctx.acquire), maybe inside its own transaction: the foreground store.
    await this.up.store.saveResources(task.id, { assignedDevice: lease.device, serviceInstanceId: lease.instanceId }).catch((error) => this.reportError('resources', error));
    this.up.publish('resource:acquired', { taskId: task.id, device: lease.device, instanceId: lease.instanceId, memoryMb: lease.memoryMb || null });
    // Releasing by hand is fine: the lease is then released only once.
    const release = lease.release.bind(lease);
    const destroy = lease.destroy.bind(lease);
    let done = false;
    const finish = (fn: () => Promise<void>) => async () => {
      if (done) return fn();
      done = true;
      await fn();
      flight.leases.splice(flight.leases.indexOf(lease as ServiceLease<unknown>), 1);
      this.up.publish('resource:released', { taskId: task.id, device: lease.device, instanceId: lease.instanceId });
    };
    Object.defineProperty(lease, 'release', { value: finish(release) });
    Object.defineProperty(lease, 'destroy', { value: finish(destroy) });
    return lease;
  }

  private async releaseLeases(flight: InFlight): Promise<void> {
    for (const lease of [...flight.leases]) await lease.release();
  }

  /** Memory (MiB) a running task uses: what it reported, else its leases' reservations, else the process growth since it started. */
  private memoryOf(flight: InFlight): number {
    if (flight.reportedMemoryMb !== undefined) return flight.reportedMemoryMb;
    const leased = flight.leases.reduce((sum, l) => sum + (l.memoryMb || 0), 0);
    if (leased > 0) return leased;
    return Math.max(0, rssMb() - flight.rssAtStartMb);
  }

  /** Records one `task_metrics` sample of a task and enforces its memory limit. */
  private sample(flight: InFlight): void {
    const used = this.memoryOf(flight);
    flight.peakMemoryMb = Math.max(flight.peakMemoryMb, used);
    this.metrics.record({
      taskId: flight.task.id,
      timestamp: this.up.now(),
      memoryUsageMb: Math.round(used),
      device: flight.device ?? flight.ctx.device,
      processingStage: flight.ctx.currentStage,
    });
    this.checkLimit(flight, used);
  }

  /** Aborts a task past its memory limit; warns once at 90 %. */
  private checkLimit(flight: InFlight, used: number): void {
    const limit = flight.memoryLimitMb;
    if (limit === undefined || flight.ctx.signal.aborted) return;
    if (used > limit) {
      flight.ctx.controller.abort(new MemoryLimitExceededError(`Task ${flight.task.id} used ${Math.round(used)} MiB, above its limit of ${limit} MiB`));
    } else if (used >= limit * 0.9 && !flight.warned) {
      flight.warned = true;
      this.up.publish('memory:warning', { taskId: flight.task.id, device: flight.device, usedMb: Math.round(used), limitMb: limit });
    }
  }

  private async sampleMemory(): Promise<void> {
    for (const flight of this.inFlight.values()) this.sample(flight);
    await this.metrics.flush();
  }

  private async handBack(tasks: MaintenanceTask[], reason: 'shutdown' | 'queue_timeout', cursor?: string | null, cleanupDone?: boolean): Promise<number> {
    if (!tasks.length) return 0;
    const now = this.up.now();
    if (cursor !== undefined && tasks.length === 1) {
      const t = tasks[0]!;
      await this.up.runnerStore.saveProgress(this.id, t.id, { cursor, done: t.progressDone, total: t.progressTotal }, now).catch(() => undefined);
    }
    const moved = await this.writeOutcome('hand-back', () => this.up.runnerStore.handBack(this.id, tasks.map((t) => t.id), now, { cleanupDone }));
    for (const task of tasks) this.leaseClock.forget(task.id);
    const cancelled: string[] = [];
    for (const task of tasks) {
      const status = moved.get(task.id);
      if (!status) continue;
      Object.assign(task, { status, lockedBy: null, leaseExpiresAt: null, attempts: Math.max(0, task.attempts - 1) });
      if (status === 'CANCELLED') {
        cancelled.push(task.id);
        this.counters.cancelled++;
        this.up.publish('task:cancelled', { task, reason: 'cancelled', by: 'admin' });
      } else if (status === 'PAUSED') {
        this.counters.paused++;
        this.up.publish('task:paused', { task });
      } else {
        this.counters.handedBack++;
        this.up.publish('task:released', { task, reason });
      }
    }
    if (cancelled.length) await this.cancelDependents(cancelled);
    return moved.size;
  }
}

/** Resolves true when `work` did not settle within `ms` (it keeps running). */
async function withTimeout(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([work.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ms)))]);
  clearTimeout(timer);
  return timedOut;
}

/** Wait before writing again after `failures` failed writes: 50 ms doubling, at most 5 s. */
function writeBackoffMs(failures: number): number {
  return Math.min(5000, 25 * 2 ** Math.min(failures, 8));
}

function toCompletionRow(c: PendingCompletion) {
  return { id: c.task.id, version: c.task.version, info: c.info, actualMemoryMb: c.task.actualMemoryMb, cleanupDone: c.cleanupDone, progressDone: c.progressDone };
}

let rssCache = { at: 0, mb: 0 };
/** Process RSS in MiB, read at most every 20 ms (reading it costs a system call). */
function rssMb(): number {
  const now = Date.now();
  if (now - rssCache.at > 20) rssCache = { at: now, mb: process.memoryUsage.rss() / 1048576 };
  return rssCache.mb;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref?.();
  });
}

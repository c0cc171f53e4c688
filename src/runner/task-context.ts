import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource, EntityManager } from 'typeorm';
import { TaskTimeoutError } from '../core/errors';
import { storableText } from '../core/storable-text';
import type { UpkeepLogger } from '../core/logger';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import type { ServicePool } from '../pool/service-pool';
import type { AcquireOptions, ServiceLease } from '../pool/types';

/** What a processor gets besides its task: signal, progress, cursor, cleanup, logging. */
export interface TaskContext {
  /** Aborts on cancel, pause, timeout, shutdown or a lost lease; `signal.reason` says which. */
  readonly signal: AbortSignal;
  /** Id of the task. */
  readonly taskId: string;
  /** This attempt's number, starting at 1. */
  readonly attempt: number;
  /** Attempts the task is allowed. */
  readonly maxAttempts: number;
  /** Id of the runner running the task. */
  readonly runnerId: string;
  /** Device the task was placed on (`cpu`, `cuda:0`, ...), or null when resources are not tracked. */
  readonly device: string | null;
  /** Logger that tags every line with the task id. */
  readonly logger: UpkeepLogger;
  /** Cursor stored by an earlier attempt (resumable iteration), or null. */
  readonly cursor: string | null;
  /** The DataSource upkeep stores tasks in (processors are rebuilt from JSON, so they cannot hold one). */
  readonly dataSource: DataSource;
  /** Whatever the host passed as `new Upkeep({ services })`: clients, repositories, pools. */
  readonly services: Readonly<Record<string, unknown>>;
  /** Reports progress; stored at most about once a second and emitted as `task:progress`. */
  progress(done: number, total?: number | null): void;
  /** Stores a resumable cursor (at most about once a second, and always when the attempt ends). */
  saveCursor(cursor: string): void;
  /** Names the current processing stage (recorded in `task_metrics.processing_stage`). */
  stage(name: string): void;
  /** Renews the lease now (the runner also renews it on its own heartbeat). */
  heartbeat(): Promise<void>;
  /** Registers a function to run after the attempt, whatever its outcome. */
  onCleanup(fn: () => unknown): void;
  /**
   * Borrows a service from a pool for this task: placed on the task's device (or `'auto'`),
   * reserving its memory estimate, aborted with the task, released at cleanup if you do not
   * release it yourself. Records `assigned_device` and `service_instance_id` and emits
   * `resource:acquired` / `resource:released`.
   */
  acquire<T>(pool: ServicePool<T>, options?: AcquireOptions): Promise<ServiceLease<T>>;
  /** Tells upkeep how much memory (MiB) the task uses now (otherwise it is estimated). */
  reportMemory(mb: number): void;
  /**
   * Runs `fn` in one database transaction that also holds this task's completion (River's
   * `JobCompleteTx`): the transaction stays open after `fn` resolves, and when `process()`
   * then returns normally the task's COMPLETED write joins it and both commit together. If
   * `process()` throws, is interrupted or loses its lease, or the commit fails, everything
   * `fn` wrote is rolled back and the attempt ends as any failed attempt does (retry or
   * ERROR). So work that only touches the database runs exactly once. Call it once per
   * attempt, as the last step of `process()` (it holds a connection, and its locks, until
   * the task is written). On SQLite it waits until no other transaction is open on the
   * shared connection, and statements the host runs on that connection while it is open
   * join it.
   */
  transaction<T>(fn: (manager: EntityManager) => Promise<T>): Promise<T>;
  /** A private temporary folder, removed after the attempt. */
  tempDir(): Promise<string>;
  /**
   * Throws `signal.reason` when the task was asked to stop, or a timeout error when its
   * deadline passed (a safe point for long loops; works even when a synchronous driver
   * keeps timers from firing).
   */
  throwIfStopping(): void;
}

/** Hooks the runner gives a context. @internal */
export interface ContextHooks {
  onProgress(done: number, total: number | null): void;
  onCursor(cursor: string): void;
  onStage(stage: string): void;
  heartbeat(): Promise<void>;
  acquire<T>(pool: ServicePool<T>, options?: AcquireOptions): Promise<ServiceLease<T>>;
  reportMemory(mb: number): void;
  transaction<T>(fn: (manager: EntityManager) => Promise<T>): Promise<T>;
}

/** The runner's implementation of {@link TaskContext}. @internal */
export class RunningTaskContext implements TaskContext {
  /** Made on first use of `signal` (most attempts never read it): an AbortController per task costs. */
  private abortController: AbortController | undefined;
  /** True once the attempt was asked to stop (or timed out); `stopReason` says why. */
  aborted = false;
  stopReason: unknown = undefined;
  /** Called once when the attempt is aborted (the runner's interruption wait). */
  onAbort: ((reason: unknown) => void) | undefined;
  readonly cleanups: Array<() => unknown> = [];
  currentStage: string | null = null;
  latestCursor: string | null;
  progressDone: number | null;
  progressTotal: number | null;
  /** Epoch ms after which the attempt has timed out. */
  deadline = Infinity;
  private tempDirs: string[] = [];

  constructor(
    readonly task: MaintenanceTask,
    readonly runnerId: string,
    readonly logger: UpkeepLogger,
    public device: string | null,
    readonly dataSource: DataSource,
    readonly services: Readonly<Record<string, unknown>>,
    private readonly hooks: ContextHooks,
  ) {
    this.latestCursor = task.cursor;
    this.progressDone = task.progressDone;
    this.progressTotal = task.progressTotal;
  }

  /** Removes the folders `tempDir()` made (upkeep's own cleanup step, after the hooks). */
  async removeTempDirs(): Promise<void> {
    for (const dir of this.tempDirs) await rm(dir, { recursive: true, force: true });
  }

  get signal(): AbortSignal {
    if (!this.abortController) {
      this.abortController = new AbortController();
      if (this.aborted) this.abortController.abort(this.stopReason);
    }
    return this.abortController.signal;
  }

  /** Asks the attempt to stop: `signal` aborts with `reason` (first reason wins). */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.stopReason = reason;
    this.abortController?.abort(reason);
    this.onAbort?.(reason);
  }
  get taskId(): string {
    return this.task.id;
  }
  get attempt(): number {
    return this.task.attempts;
  }
  get maxAttempts(): number {
    return this.task.maxAttempts;
  }
  get cursor(): string | null {
    return this.task.cursor;
  }

  progress(done: number, total: number | null = null): void {
    if (!Number.isFinite(done)) return;
    this.progressDone = Math.round(done);
    if (total !== null && total !== undefined && Number.isFinite(total)) this.progressTotal = Math.round(total);
    this.hooks.onProgress(this.progressDone, this.progressTotal);
  }

  saveCursor(cursor: string): void {
    if (typeof cursor !== 'string') throw new TypeError('ctx.saveCursor(cursor): cursor must be a string');
    // Stored with the progress and the result on every dialect: NUL and lone surrogates would
    // make the completion itself fail (see storableText).
    const storable = storableText(cursor);
    this.latestCursor = storable;
    this.hooks.onCursor(storable);
  }

  stage(name: string): void {
    this.currentStage = String(name).slice(0, 100);
    this.hooks.onStage(this.currentStage);
  }

  heartbeat(): Promise<void> {
    return this.hooks.heartbeat();
  }

  onCleanup(fn: () => unknown): void {
    if (typeof fn !== 'function') throw new TypeError('ctx.onCleanup(fn): fn must be a function');
    this.cleanups.push(fn);
  }

  acquire<T>(pool: ServicePool<T>, options?: AcquireOptions): Promise<ServiceLease<T>> {
    return this.hooks.acquire(pool, options);
  }

  reportMemory(mb: number): void {
    if (!Number.isFinite(mb) || mb < 0) throw new TypeError('ctx.reportMemory(mb): mb must be a non-negative number');
    this.hooks.reportMemory(mb);
  }

  transaction<T>(fn: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (typeof fn !== 'function') throw new TypeError('ctx.transaction(fn): fn must be a function');
    return this.hooks.transaction(fn);
  }

  /** True once `tempDir()` made a folder (removed at cleanup). */
  get hasTempDirs(): boolean {
    return this.tempDirs.length > 0;
  }

  async tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `upkeep-${this.task.id.slice(0, 8)}-`));
    this.tempDirs.push(dir);
    return dir;
  }

  throwIfStopping(): void {
    if (!this.aborted && Date.now() > this.deadline) this.abort(new TaskTimeoutError(`Task ${this.task.id} passed its deadline`));
    if (this.aborted) throw this.stopReason;
  }
}

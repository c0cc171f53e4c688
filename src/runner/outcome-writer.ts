import type { TaskFailureReason } from '../core/status';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import { completedInfo, failureInfo, lastErrorText, withAttempt } from '../core/task-info';
import type { MaintenanceTaskProcessor } from '../processor/maintenance-task-processor';
import { serializeProcessor } from '../processor/serialization';
import { retryDelayMs } from './backoff';
import { describeThrown } from './storable-result';
import { classifyWriteError } from '../store/write-errors';
import { openTaskTransaction, type TaskTransaction } from '../store/executor';
import type { EntityManager } from 'typeorm';
import { InvalidArgumentError } from '../core/errors';
import type { Outcome, InFlight, PendingCompletion, RunnerCore } from './runner-types';
import { delay, writeBackoffMs, toCompletionRow } from './runner-types';

const NON_RETRYABLE: ReadonlySet<TaskFailureReason> = new Set<TaskFailureReason>([
  'invalid_config',
  'unknown_processor',
  'result_not_serializable',
  'cancelled',
  'dependency_failed',
]);

/** The only place that writes a task transition for this runner, updates the in-memory task and publishes its event: one method per outcome (completed through the batcher or ctx.transaction, retry, error, cancelled, paused, handed back, lease lost). @internal */
export class OutcomeWriter {
  constructor(private readonly r: RunnerCore) {}

  /** Writes the outcome of an attempt with a conditional update, then emits its event. */
  async finish(flight: InFlight, outcome: Outcome, cleanupDone: boolean, processor: MaintenanceTaskProcessor | undefined): Promise<void> {
    const { task, ctx } = flight;
    // (A completion inside ctx.transaction is checked by its own guarded write: on SQLite a
    // renewal outside that transaction would wait for it.)
    if (outcome.kind !== 'lease_lost' && outcome.kind !== 'handed_back' && !(flight.tx && outcome.kind === 'completed') && !this.r.leaseClock.valid(task.id) && !(await this.r.leases.holdsLease(task))) {
      await flight.tx?.rollback();
      flight.tx = undefined;
      // The lease ran out before the outcome could be written: another runner owns the task.
      this.r.leaseClock.forget(task.id);
      return;
    }
    if (outcome.kind === 'completed') {
      // The seed's shape: info is exactly what the processor returned.
      const info = completedInfo(outcome.result);
      if (this.r.placement) task.actualMemoryMb = Math.round(flight.peakMemoryMb);
      const completion = { task, info, result: outcome.result, durationMs: Date.now() - flight.startedAt, cleanupDone, progressDone: ctx.progressDone, cursor: ctx.latestCursor };
      const tx = flight.tx;
      if (tx) {
        flight.tx = undefined;
        return this.completeInTransaction(flight, tx, completion, processor);
      }
      this.r.batcher.completions.push(completion);
      this.r.batcher.scheduleFlush();
      return;
    }
    const now = this.r.up.now();
    // Only this claim of the task may write its outcome (not a stale attempt of the same runner),
    // and an admin's pending cancel or pause wins over a retry or pause written here.
    const guard = { lockedBy: this.r.id, from: ['WORKING' as const], version: task.version, noControl: true };
    const base = {
      ...(this.r.placement ? { actualMemoryMb: Math.round(flight.peakMemoryMb) } : {}),
      cursor: ctx.latestCursor,
      progressDone: ctx.progressDone,
      progressTotal: ctx.progressTotal,
      resourceCleanupCompleted: cleanupDone,
      releaseLease: true,
    };
    switch (outcome.kind) {
      case 'failed': {
        const runnerInfo = withAttempt(task, { attempt: task.attempts, at: now.toISOString(), reason: outcome.reason, message: outcome.error.message });
        const info = failureInfo(outcome.error, task.attempts);
        const lastError = lastErrorText(outcome.error);
        let willRetry = outcome.retryable && !NON_RETRYABLE.has(outcome.reason) && task.attempts < task.maxAttempts;
        let processorJson = processor && willRetry ? this.propsOf(processor, task) : undefined;
        let priority: number | undefined;
        if (outcome.reason === 'out_of_memory') {
          const ranOn = ctx.device ?? flight.device; // a pooled service's device wins over placement
          const device = this.r.placement?.list().find((d) => d.id === ranOn);
          const decision = this.r.errorHandler.handleOomError(task, { error: outcome.thrown, device: ranOn, processor, deviceFreeMb: device?.freeMemoryMb ?? null });
          willRetry = decision.action !== 'give_up';
          if (decision.processorJson) processorJson = decision.processorJson;
          if (decision.routeDevice) runnerInfo.placement = { device: decision.routeDevice, reason: 'oom_cpu_fallback' };
          runnerInfo.oom = { batchFactor: decision.batchFactor, memory: decision.memory };
          priority = task.priority - 1; // the seed: requeue with lower priority
        }
        if (willRetry) {
          const meta = this.r.up.registry.get(task.processorType)?.meta;
          const wait = retryDelayMs(task.attempts, this.r.up.settings.retry, meta?.options.backoff);
          const retryAt = new Date(now.getTime() + wait);
          const ok = await this.writeOutcome('retry', () =>
            this.r.up.runnerStore.transition(
              task.id,
              'PENDING',
              { ...base, info, runnerInfo, failureReason: outcome.reason, lastError, startAt: retryAt, delay: wait, processorJson, priority },
              now,
              guard,
            ),
          );
          if (!ok) return this.lostRace(task, 'retry');
          Object.assign(task, { status: 'PENDING', info, runnerInfo, failureReason: outcome.reason, lastError, startAt: retryAt });
          if (processorJson) task.processorJson = processorJson;
          if (priority !== undefined) task.priority = priority;
          this.r.counters.retried++;
          this.r.up.publish('task:failed', { task, error: outcome.error, reason: outcome.reason, willRetry: true, retryAt });
          return;
        }
        const finalGuard = { ...guard, noControl: false }; // a final failure stands whatever was requested
        const ok = await this.writeOutcome('fail', () =>
          this.r.up.runnerStore.transition(task.id, 'ERROR', { ...base, info, runnerInfo, failureReason: outcome.reason, lastError, finished: true }, now, finalGuard),
        ).catch(async (error: unknown) => {
          // The database refused something in the details: keep the reason and a message it takes.
          const message = `The database refused the error details: ${describeThrown(error).message}`;
          const bare = failureInfo({ name: 'UnstorableError', message, code: 'UNSTORABLE_ERROR' }, task.attempts);
          return this.writeOutcome('fail', () =>
            this.r.up.runnerStore.transition(task.id, 'ERROR', { ...base, cursor: undefined, info: bare, failureReason: outcome.reason, lastError: message, finished: true }, now, finalGuard),
          );
        });
        if (!ok) return this.lostRace(task, 'fail');
        Object.assign(task, { status: 'ERROR', info, runnerInfo, failureReason: outcome.reason, lastError, finishedAt: now });
        this.r.counters.failed++;
        this.r.up.publish('task:failed', { task, error: outcome.error, reason: outcome.reason, willRetry: false });
        await this.cancelDependents([task.id]);
        return;
      }
      case 'cancelled': {
        const message = outcome.by === 'processor' ? 'The processor cancelled the task' : 'Cancelled while running';
        const info = failureInfo({ name: 'TaskCancelledError', message, code: 'CANCELLED' }, task.attempts);
        const ok = await this.writeOutcome('cancel', () =>
          this.r.up.runnerStore.transition(task.id, 'CANCELLED', { ...base, info, failureReason: 'cancelled', lastError: message, finished: true }, now, { ...guard, noControl: false }),
        );
        if (!ok) return this.lostRace(task, 'cancel');
        Object.assign(task, { status: 'CANCELLED', info, failureReason: 'cancelled', lastError: message, finishedAt: now });
        this.r.counters.cancelled++;
        this.r.up.publish('task:cancelled', { task, reason: 'cancelled', by: outcome.by });
        await this.cancelDependents([task.id]);
        return;
      }
      case 'paused': {
        // A pause does not use up an attempt.
        const ok = await this.writeOutcome('pause', () =>
          this.r.up.runnerStore.transition(task.id, 'PAUSED', { ...base, attempts: Math.max(0, task.attempts - 1) }, now, { ...guard, noControl: false }),
        );
        if (!ok) return this.lostRace(task, 'pause');
        Object.assign(task, { status: 'PAUSED', cursor: ctx.latestCursor });
        this.r.counters.paused++;
        this.r.up.publish('task:paused', { task });
        return;
      }
      case 'handed_back': {
        await this.handBack([task], 'shutdown', ctx.latestCursor, cleanupDone);
        return;
      }
      case 'lease_lost':
        this.r.up.logger.warn(`task ${task.id}: lease lost while this runner held it; nothing of it is written (another runner owns it now)`);
        return;
    }
  }

  /** After a refused outcome write: if an admin asked to cancel or pause this claim, do it. */
  async honourControl(task: MaintenanceTask): Promise<void> {
    const current = await this.r.up.runnerStore.getTask(task.id);
    if (!current || current.status !== 'WORKING' || current.lockedBy !== this.r.id || current.version !== task.version || !current.control) return;
    const now = this.r.up.now();
    const guard = { lockedBy: this.r.id, from: ['WORKING' as const], version: task.version };
    if (current.control === 'cancel') {
      const info = failureInfo({ name: 'TaskCancelledError', message: 'Cancelled while running', code: 'CANCELLED' }, current.attempts);
      if (await this.r.up.runnerStore.transition(task.id, 'CANCELLED', { info, failureReason: 'cancelled', lastError: 'Cancelled while running', finished: true, releaseLease: true }, now, guard)) {
        Object.assign(task, { status: 'CANCELLED', info, failureReason: 'cancelled', finishedAt: now });
        this.r.counters.cancelled++;
        this.r.up.publish('task:cancelled', { task, reason: 'cancelled', by: 'admin' });
        await this.cancelDependents([task.id]);
      }
    } else if (await this.r.up.runnerStore.transition(task.id, 'PAUSED', { releaseLease: true, attempts: Math.max(0, task.attempts - 1) }, now, guard)) {
      Object.assign(task, { status: 'PAUSED' });
      this.r.counters.paused++;
      this.r.up.publish('task:paused', { task });
    }
  }

  /**
   * The processor's props to store for the next attempt; if the processor put something on
   * itself that JSON cannot hold, the stored props stay as they were.
   */
  propsOf(processor: MaintenanceTaskProcessor, task: MaintenanceTask): string | undefined {
    try {
      return serializeProcessor(processor);
    } catch (error) {
      this.r.up.logger.warn(`task ${task.id}: keeping the stored props: ${(error as Error).message}`);
      return undefined;
    }
  }

  lostRace(task: MaintenanceTask, what: string): void {
    // Lost to a pending admin request? Honour it now (the guard refused because of it).
    void this.honourControl(task).catch((error) => this.r.reportError('control', error));
    this.r.up.logger.warn(`task ${task.id}: could not record ${what}: the task is no longer WORKING under ${this.r.id}`);
  }

  async cancelDependents(ids: string[]): Promise<void> {
    const cancelled = await this.r.up.runnerStore.cancelDependents(ids, this.r.up.now());
    if (!cancelled.length) return;
    const tasks = await this.r.up.runnerStore.getTasks(cancelled);
    for (const task of tasks.values()) this.r.up.publish('task:cancelled', { task, reason: 'dependency_failed', by: 'dependency' });
  }

  /** The database refused a result: the attempt ends in ERROR with result_not_serializable. */
  async failCompletion(c: PendingCompletion, error: unknown): Promise<void> {
    const e = describeThrown(error);
    const message = `The database refused the result: ${e.message}`;
    const info = failureInfo({ name: 'ResultSerializationError', message, code: 'RESULT_NOT_SERIALIZABLE' }, c.task.attempts);
    this.r.leaseClock.forget(c.task.id);
    const ok = await this.writeOutcome('fail', () =>
      this.r.up.runnerStore.transition(c.task.id, 'ERROR', { info, failureReason: 'result_not_serializable', lastError: message, finished: true, releaseLease: true }, this.r.up.now(), {
        lockedBy: this.r.id,
        from: ['WORKING'],
        version: c.task.version,
      }),
    ).catch(() => false);
    if (!ok) return this.lostRace(c.task, 'failure of an unwritable result');
    Object.assign(c.task, { status: 'ERROR', info, failureReason: 'result_not_serializable', lastError: message });
    this.r.counters.failed++;
    this.r.up.publish('task:failed', { task: c.task, error: { name: 'ResultSerializationError', message, code: 'RESULT_NOT_SERIALIZABLE' }, reason: 'result_not_serializable', willRetry: false });
    await this.cancelDependents([c.task.id]);
  }

  /**
   * Runs one outcome write; a failure for a passing reason (connection lost, deadlock, lock
   * timeout) is retried with backoff and the outcome stays what it was. A refused value, or a
   * stopping runner past its deadline, throws.
   */
  async writeOutcome<T>(what: string, write: () => Promise<T>): Promise<T> {
    for (let failures = 1; ; failures++) {
      try {
        return await write();
      } catch (error) {
        const kind = classifyWriteError(error, this.r.up.runnerStore.db.dialect);
        if (kind === 'refused' || (kind === 'unknown' && failures >= 5) || this.pastWriteDeadline()) throw error;
        this.r.reportError(what, error, { retried: true });
        await delay(writeBackoffMs(failures));
      }
    }
  }

  /** Past the time a stopping runner gives its writes (a running one never gives up on a passing outage). */
  pastWriteDeadline(): boolean {
    return this.r.stopping && Date.now() > this.r.writeDeadline;
  }

  afterCompletions(batch: PendingCompletion[], written: Set<string>, now: Date): void {
    for (const c of batch) {
      this.r.leaseClock.forget(c.task.id);
      if (!written.has(c.task.id)) {
        this.lostRace(c.task, 'completion');
        continue;
      }
      Object.assign(c.task, { status: 'COMPLETED', info: c.info, finishedAt: now, failureReason: null, lockedBy: null, leaseExpiresAt: null });
      // As stored: a null cursor or progress keeps what the row had.
      if (c.cursor !== null) c.task.cursor = c.cursor;
      if (c.progressDone !== null) c.task.progressDone = c.progressDone;
      this.r.counters.completed++;
      this.r.up.publish('task:completed', { task: c.task, info: c.result, durationMs: c.durationMs });
    }
  }

  async handBack(tasks: MaintenanceTask[], reason: 'shutdown' | 'queue_timeout', cursor?: string | null, cleanupDone?: boolean): Promise<number> {
    if (!tasks.length) return 0;
    const now = this.r.up.now();
    if (cursor !== undefined && tasks.length === 1) {
      const t = tasks[0]!;
      await this.r.up.runnerStore.saveProgress(this.r.id, t.id, { cursor, done: t.progressDone, total: t.progressTotal }, now).catch(() => undefined);
    }
    const cancelMessage = 'Cancelled (the request was honoured as the runner handed the task back)';
    // Built once per task, from the attempt as claimed (before the hand-back uncounts it).
    const cancels = new Map(tasks.map((t) => [t.id, { info: failureInfo({ name: 'TaskCancelledError', message: cancelMessage, code: 'CANCELLED' }, t.attempts), lastError: cancelMessage }]));
    const ifCancelled = (id: string) => cancels.get(id)!;
    const moved = await this.writeOutcome('hand-back', () => this.r.up.runnerStore.handBack(this.r.id, tasks.map((t) => t.id), now, { cleanupDone, ifCancelled }));
    for (const task of tasks) this.r.leaseClock.forget(task.id);
    const cancelled: string[] = [];
    for (const task of tasks) {
      const status = moved.get(task.id);
      if (!status) continue;
      Object.assign(task, { status, lockedBy: null, leaseExpiresAt: null, attempts: Math.max(0, task.attempts - 1) });
      if (status === 'CANCELLED') {
        const { info, lastError } = ifCancelled(task.id);
        Object.assign(task, { info, lastError, failureReason: 'cancelled', finishedAt: now });
        cancelled.push(task.id);
        this.r.counters.cancelled++;
        this.r.up.publish('task:cancelled', { task, reason: 'cancelled', by: 'admin' });
      } else if (status === 'PAUSED') {
        this.r.counters.paused++;
        this.r.up.publish('task:paused', { task });
      } else {
        this.r.counters.handedBack++;
        this.r.up.publish('task:released', { task, reason });
      }
    }
    if (cancelled.length) await this.cancelDependents(cancelled);
    return moved.size;
  }

  /** Commits the task's COMPLETED write together with the processor's writes of `ctx.transaction`. */
  async completeInTransaction(flight: InFlight, tx: TaskTransaction, c: PendingCompletion, processor: MaintenanceTaskProcessor | undefined): Promise<void> {
    const now = this.r.up.now();
    try {
      const held = await this.r.up.runnerStore.completeIn(tx.executor, this.r.id, toCompletionRow(c), now);
      if (!held) {
        await tx.rollback();
        this.r.leaseClock.forget(c.task.id);
        return this.lostRace(c.task, 'completion');
      }
      await tx.commit();
    } catch (error) {
      await tx.rollback();
      this.r.reportError('complete', error);
      // Nothing of the attempt was kept: it failed as any attempt does, and may run again.
      const e = describeThrown(error);
      const failed: Outcome = { kind: 'failed', reason: 'processor_error', retryable: true, error: { name: e.name, message: `ctx.transaction() could not commit: ${e.message}`, code: e.code } };
      return this.finish(flight, failed, c.cleanupDone, processor);
    }
    this.afterCompletions([c], new Set([c.task.id]), now);
  }

  /** `ctx.transaction(fn)`: `fn` writes in a transaction the task's completion joins later. */
  async runInTransaction<T>(flight: InFlight, fn: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (flight.tx) throw new InvalidArgumentError('ctx.transaction() may be called once per attempt');
    const tx = await openTaskTransaction(this.r.up.runnerStore.dataSource);
    flight.tx = tx;
    try {
      return await fn(tx.manager);
    } catch (error) {
      flight.tx = undefined;
      await tx.rollback();
      throw error;
    }
  }
}

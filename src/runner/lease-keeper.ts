import { hostname } from 'node:os';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import { errorOfInfo, failureInfo, withAttempt } from '../core/task-info';
import type { RunnerCore } from './runner-types';

/** Keeps this runner's leases: heartbeats (and the runner registry row), the local lease clock check, the rescue of other runners' expired leases and the sweeps that run with it. @internal */
export class LeaseKeeper {
  constructor(private readonly r: RunnerCore) {}

  registryUsable = true;
  unknownStatusCheckedAt = 0;
  readonly reportedUnknown = new Set<string>();
  startedAt = new Date();

  async heartbeat(): Promise<void> {
    // Only what this runner is tracking: running, queued, or waiting for its result to be
    // written. A task whose outcome could not be written is not renewed, so it is rescued.
    const tracked = new Set<string>([...this.r.inFlight.keys(), ...this.r.queue.list().map((q) => q.task.id), ...this.r.batcher.completions.map((c) => c.task.id), ...this.r.batcher.writingBatch.map((c) => c.task.id)]);
    await this.beatRegistry();
    if (!tracked.size) return;
    const sentAt = Date.now();
    const held = await this.r.up.runnerStore.heartbeat(this.r.id, [...tracked], this.r.options.leaseMs, this.r.up.now());
    const heldIds = new Map(held.map((h) => [h.id, h.control]));
    for (const id of heldIds.keys()) this.r.leaseClock.renew(id, sentAt);
    for (const flight of this.r.inFlight.values()) {
      // Only tasks this heartbeat asked about: one claimed while it was on its way is not lost.
      if (!tracked.has(flight.task.id) || flight.ctx.aborted) continue;
      if (!heldIds.has(flight.task.id)) {
        // Written meanwhile by someone else (admin reset, rescue after a long pause).
        if (!this.r.batcher.completions.some((c) => c.task.id === flight.task.id)) this.r.abortTask(flight, 'lease_lost');
        continue;
      }
      const control = heldIds.get(flight.task.id);
      if (control) this.r.abortTask(flight, control);
    }
  }

  /**
   * True when this runner still holds `task`: its local lease clock has time left, or (when
   * it ran out, e.g. after the process was frozen) the database renews the lease of this
   * very claim. Checked before a task starts and before its outcome is written.
   */
  async holdsLease(task: MaintenanceTask): Promise<boolean> {
    if (this.r.leaseClock.valid(task.id)) return true;
    const sentAt = Date.now();
    const renewed = await this.r.up.runnerStore.renewLease(this.r.id, task.id, this.r.options.leaseMs, this.r.up.now(), task.version).catch((error) => {
      this.r.reportError('lease', error);
      return false;
    });
    if (renewed) this.r.leaseClock.renew(task.id, sentAt);
    else this.r.up.logger.warn(`task ${task.id}: its lease ran out while this runner held it (frozen or overloaded); another runner owns it now`);
    return renewed;
  }

  /** Requeues (or fails with LEASE_EXPIRED) tasks whose runner stopped renewing them. */
  async rescueExpired(): Promise<void> {
    const now = this.r.up.now();
    const expired = await this.r.up.runnerStore.findExpiredLeases(now, 100);
    for (const task of expired) {
      const previousRunner = task.lockedBy;
      if (task.control) {
        // An admin asked to cancel or pause the task before its runner died: honour it.
        const to = task.control === 'cancel' ? 'CANCELLED' : 'PAUSED';
        const cancelled = to === 'CANCELLED';
        const message = 'Cancelled while its runner was gone';
        const info = failureInfo({ name: 'TaskCancelledError', message, code: 'CANCELLED' }, task.attempts);
        const ok = await this.r.up.runnerStore.rescue(task, to, cancelled ? { info, failureReason: 'cancelled', lastError: message } : {}, now);
        if (!ok) continue;
        this.r.counters.rescued++;
        Object.assign(task, { status: to, lockedBy: null, leaseExpiresAt: null }, cancelled ? { info, failureReason: 'cancelled', lastError: message } : {});
        if (cancelled) {
          this.r.up.publish('task:cancelled', { task, reason: 'cancelled', by: 'admin' });
          await this.r.outcomes.cancelDependents([task.id]);
        } else this.r.up.publish('task:paused', { task });
        continue;
      }
      const requeue = task.attempts < task.maxAttempts;
      const message = `Lease of runner ${previousRunner ?? '?'} expired while the task ran (attempt ${task.attempts})`;
      // The attempt is recorded in runner_info; info says how it ended, requeued or not.
      const runnerInfo = withAttempt(task, { attempt: task.attempts, at: now.toISOString(), reason: 'lease_expired', message });
      const info = failureInfo({ name: 'LeaseExpired', message, code: 'LEASE_EXPIRED' }, task.attempts);
      const ok = await this.r.up.runnerStore.rescue(
        task,
        requeue ? 'PENDING' : 'ERROR',
        { info, runnerInfo, lastError: message, failureReason: 'lease_expired', startAt: requeue ? now : undefined },
        now,
      );
      if (!ok) continue;
      this.r.counters.rescued++;
      Object.assign(task, { status: requeue ? 'PENDING' : 'ERROR', info, runnerInfo, lastError: message, failureReason: 'lease_expired', lockedBy: null, leaseExpiresAt: null });
      this.r.up.publish('task:lease-expired', { task, previousRunner, requeued: requeue });
      if (!requeue) {
        this.r.up.publish('task:failed', {
          task,
          error: { name: 'LeaseExpired', message, code: 'LEASE_EXPIRED' },
          reason: 'lease_expired',
          willRetry: false,
        });
        await this.r.outcomes.cancelDependents([task.id]);
      }
    }
    // Tasks of a type no runner has claimed for a long time: no running build knows it.
    if (this.r.options.unknownTypeTimeoutMs > 0) {
      const failedUnknown = await this.r.up.runnerStore.failUnknownTypes(this.r.processorTypes, new Date(now.getTime() - this.r.options.unknownTypeTimeoutMs), now, 100);
      for (const task of failedUnknown) {
        const error = errorOfInfo(task.info) ?? { name: 'UnknownProcessorError', message: task.lastError ?? `No runner knows processor type "${task.processorType}"`, code: 'UNKNOWN_PROCESSOR' };
        this.r.up.publish('task:failed', { task, error, reason: 'unknown_processor', willRetry: false });
        await this.r.outcomes.cancelDependents([task.id]);
      }
    }
    await this.reportUnknownStatuses();
    // Rows of runners that died without removing themselves.
    if (this.registryUsable) await this.r.up.runnerRegistry.removeStale(now).catch((error) => this.r.reportError('registry', error));
    // Dependents of tasks that failed while they were being created.
    const failed = await this.r.up.runnerStore.findBlockedByFailure(100);
    if (failed.length) await this.r.outcomes.cancelDependents(failed);
    if (expired.length) this.r.claims.requestPump();
  }

  /**
   * A status written by hand that upkeep does not know leaves the task alone forever: say so,
   * once per task (runner:error, during `unknown-status`); `metrics().statusCounts` counts it.
   * At most once a minute (the query reads every row's status).
   */
  async reportUnknownStatuses(): Promise<void> {
    if (Date.now() - this.unknownStatusCheckedAt < 60_000) return;
    this.unknownStatusCheckedAt = Date.now();
    for (const { id, status } of await this.r.up.runnerStore.findUnknownStatuses(100)) {
      if (this.reportedUnknown.has(id)) continue;
      this.reportedUnknown.add(id);
      const message = `Task ${id} has status ${JSON.stringify(status)}, which upkeep does not know; no runner will touch it until it is set to a known status`;
      this.r.up.logger.error(`runner ${this.r.id}: ${message}`);
      this.r.up.publish('runner:error', { runnerId: this.r.id, error: { name: 'UnknownStatus', message, code: 'UNKNOWN_STATUS' }, during: 'unknown-status' });
    }
  }

  /** Writes this runner's row in `upkeep_runners`; a registry that cannot be written is reported once and then left alone. */
  async register(): Promise<void> {
    if (!this.registryUsable) return;
    try {
      await this.r.up.runnerRegistry.register(
        {
          id: this.r.id,
          host: hostname(),
          pid: process.pid,
          concurrency: this.r.options.concurrency,
          processorTypes: this.r.processorTypes,
          leaseMs: this.r.options.leaseMs,
          inFlight: this.r.inFlight.size + this.r.queue.size,
          startedAt: this.startedAt,
        },
        this.r.up.now(),
      );
    } catch (error) {
      this.registryUsable = false;
      this.r.reportError('registry', error);
    }
  }

  /** One statement per heartbeat; a row removed meanwhile (this runner was frozen past its leases) is written again. */
  async beatRegistry(): Promise<void> {
    if (!this.registryUsable) return;
    const present = await this.r.up.runnerRegistry.beat(this.r.id, this.r.inFlight.size + this.r.queue.size + this.r.batcher.completions.length, this.r.up.now()).catch((error) => {
      this.r.reportError('registry', error);
      return true;
    });
    if (!present) await this.register();
  }
}

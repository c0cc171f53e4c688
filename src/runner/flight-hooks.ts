import type { EntityManager } from 'typeorm';
import { childLogger, type UpkeepLogger } from '../core/logger';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import type { ServicePool } from '../pool/service-pool';
import type { AcquireOptions, ServiceLease } from '../pool/types';
import type { ContextHooks } from './task-context';
import type { InFlight, RunnerCore } from './runner-types';

/** The hooks of one running task's context: one object per task rather than a closure per hook. @internal */
export class FlightHooks implements ContextHooks {
  constructor(
    private readonly r: RunnerCore,
    private readonly flight: InFlight,
  ) {}

  onProgress(done: number, total: number | null): void {
    this.r.progress.onProgress(this.flight, done, total);
  }

  onCursor(): void {
    const { ctx } = this.flight;
    this.r.progress.onProgress(this.flight, ctx.progressDone, ctx.progressTotal, false);
  }

  onStage(stage: string): void {
    this.r.up.publish('task:stage', { task: this.flight.task, stage });
    if (this.r.placement) this.r.resources.sample(this.flight);
  }

  acquire<T>(pool: ServicePool<T>, options?: AcquireOptions): Promise<ServiceLease<T>> {
    return this.r.resources.acquireFor(this.flight, pool, options);
  }

  reportMemory(mb: number): void {
    this.flight.reportedMemoryMb = mb;
    this.r.resources.checkLimit(this.flight, mb);
  }

  transaction<T>(fn: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.r.outcomes.runInTransaction(this.flight, fn);
  }

  async heartbeat(): Promise<void> {
    // Awaited by processor code, maybe inside its own transaction: the foreground store.
    const { r } = this;
    const id = this.flight.task.id;
    const sentAt = Date.now();
    if (await r.up.store.renewLease(r.id, id, r.options.leaseMs, r.up.now())) r.leaseClock.renew(id, sentAt);
  }
}

/**
 * `ctx.logger`: the runner's logger bound to the task (id, type, attempt, device as they were
 * at its start). The child logger is made on the first line, so a task that logs nothing
 * costs no logger. @internal
 */
export class TaskLogger implements UpkeepLogger {
  private bound: UpkeepLogger | undefined;
  private readonly attempt: number;

  constructor(
    private readonly parent: UpkeepLogger,
    private readonly task: MaintenanceTask,
    private readonly device: string | null,
  ) {
    this.attempt = task.attempts;
  }

  private get logger(): UpkeepLogger {
    return (this.bound ??= childLogger(this.parent, { taskId: this.task.id, processorType: this.task.processorType, attempt: this.attempt, device: this.device }));
  }

  debug(message: string, meta?: Record<string, unknown>): void {
    this.logger.debug(message, meta);
  }

  info(message: string, meta?: Record<string, unknown>): void {
    this.logger.info(message, meta);
  }

  warn(message: string, meta?: Record<string, unknown>): void {
    this.logger.warn(message, meta);
  }

  error(message: string, meta?: Record<string, unknown>): void {
    this.logger.error(message, meta);
  }

  child(bindings: Record<string, unknown>): UpkeepLogger {
    return childLogger(this.logger, bindings);
  }
}

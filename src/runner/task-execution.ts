import { isUpkeepError, TaskCancelledError, TaskInterruptedError, TaskTimeoutError, UnrecoverableTaskError } from '../core/errors';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import type { EventError } from '../events/event-map';
import type { MaintenanceTaskProcessor } from '../processor/maintenance-task-processor';
import { instantiateProcessor, parseProcessorJson, validateProcessor } from '../processor/serialization';
import { describeThrown, RESULT_LIMITS, toStorableResult } from './storable-result';
import { isOutOfMemoryError } from '../resources/out-of-memory';
import { MemoryLimitExceededError } from '../core/errors';
import type { Outcome, InFlight, RunnerCore } from './runner-types';

/** Runs one attempt: rebuilds the processor, runs it against its timeout and interruptions, runs the cleanup hooks; returns an Outcome value and writes nothing. @internal */
export class TaskExecution {
  constructor(private readonly r: RunnerCore) {}

  timeoutFor(task: MaintenanceTask): number {
    const meta = this.r.up.registry.get(task.processorType)?.meta;
    return task.timeoutMs ?? meta?.options.timeoutMs ?? this.r.up.settings.defaultTimeoutMs;
  }

  /** Restores the processor from its stored JSON, or says why it cannot be. */
  loadProcessor(task: MaintenanceTask): { processor: MaintenanceTaskProcessor } | { failure: Outcome } {
    const registered = this.r.up.registry.get(task.processorType);
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

  /** The outcome of an attempt that was interrupted (cancel, pause, shutdown, lost lease). */
  interruptedOutcome(reason: unknown): Outcome | undefined {
    if (reason instanceof TaskCancelledError) return { kind: 'cancelled', by: 'admin' };
    if (reason instanceof TaskInterruptedError) {
      return reason.kind === 'pause' ? { kind: 'paused' } : reason.kind === 'shutdown' ? { kind: 'handed_back' } : { kind: 'lease_lost' };
    }
    return undefined;
  }

  /** Runs the processor against its timeout and interruptions; never throws. */
  async execute(flight: InFlight, processor: MaintenanceTaskProcessor): Promise<Outcome> {
    const { task, ctx } = flight;
    // Interrupted before it started (cancelled or paused while waiting for its turn).
    const early = ctx.aborted ? this.interruptedOutcome(ctx.stopReason) : undefined;
    if (early) return early;
    const timeoutMs = this.timeoutFor(task);
    ctx.deadline = Date.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let graceTimer: NodeJS.Timeout | undefined;
    let interrupt: ((why: 'timeout' | 'grace') => void) | undefined;
    let abortedEarly = false;
    const grace = () => {
      // Cancel, pause, shutdown: give the processor a moment to stop at a safe point.
      graceTimer = setTimeout(() => interrupt!('grace'), this.r.options.interruptGraceMs);
    };
    ctx.onAbort = (reason) => {
      if (reason instanceof TaskTimeoutError) return;
      if (interrupt) grace();
      else abortedEarly = true;
    };
    let settled: { ok: true; value: unknown } | { ok: false; error: unknown } | 'timeout' | 'grace' | undefined;
    let returned: unknown;
    try {
      returned = processor.process(task, ctx);
      // A processor that returns at once (no promise) needs no timer: nothing could interrupt it.
      settled = isThenable(returned) ? undefined : { ok: true, value: returned };
    } catch (error) {
      settled = { ok: false, error };
    }
    if (settled === undefined) {
      const interrupted = new Promise<'timeout' | 'grace'>((resolve) => {
        interrupt = resolve;
        timer = setTimeout(() => {
          ctx.abort(new TaskTimeoutError(`Task ${task.id} timed out after ${timeoutMs} ms`));
          resolve('timeout');
        }, Math.max(0, ctx.deadline - Date.now())); // the synchronous part already counted
      });
      if (abortedEarly) grace();
      const run = Promise.resolve(returned).then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      );
      settled = await Promise.race([run, interrupted]);
    }
    clearTimeout(timer);
    clearTimeout(graceTimer);
    ctx.onAbort = undefined;
    const reason: unknown = ctx.aborted ? ctx.stopReason : undefined;
    if (settled === 'timeout' || reason instanceof TaskTimeoutError) {
      return { kind: 'failed', reason: 'timeout', retryable: true, error: { name: 'TaskTimeoutError', message: `Timed out after ${timeoutMs} ms`, code: 'TIMEOUT' } };
    }
    if (reason instanceof MemoryLimitExceededError) {
      // Past its memory limit: the attempt fails even when the processor ignored the abort and
      // finished anyway (the limit protects the process, not the result).
      return { kind: 'failed', reason: 'memory_limit_exceeded', retryable: false, error: { name: reason.name, message: reason.message, code: reason.code } };
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
  async cleanup(flight: InFlight, processor: MaintenanceTaskProcessor | undefined): Promise<boolean> {
    const { task, ctx } = flight;
    // Nothing to clean up (the common case): no hooks, no pooled services, no temp folders.
    if (!ctx.cleanups.length && !processor?.cleanup && !flight.leases.length && !ctx.hasTempDirs) return true;
    const hooks = [...ctx.cleanups.slice().reverse(), ...(processor?.cleanup ? [() => processor.cleanup!(task, ctx)] : [])];
    const started = Date.now();
    const tracked = this.r.up.settings.enableResourceTracking;
    const reported = hooks.length + flight.leases.length;
    if (tracked && reported > 0) this.r.up.publish('cleanup:started', { taskId: task.id, hooks: reported });
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
    const budgetMs = this.r.up.settings.cleanupTimeoutSeconds * 1000;
    const timedOut = await withTimeout(runAll(hooks), budgetMs);
    // Upkeep's own steps run even after a hook hung, with their own bound.
    const internalTimedOut = await withTimeout(runAll([() => this.r.resources.releaseLeases(flight), () => ctx.removeTempDirs()]), budgetMs);
    if (tracked && reported > 0) {
      this.r.up.publish('cleanup:completed', { taskId: task.id, durationMs: Date.now() - started, timedOut: timedOut || internalTimedOut, errors });
    }
    if (timedOut) ctx.logger.warn(`cleanup of task ${task.id} was cut off after ${this.r.up.settings.cleanupTimeoutSeconds} s`);
    return !timedOut && !internalTimedOut && errors.length === 0;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** Resolves true when `work` did not settle within `ms` (it keeps running). */
async function withTimeout(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([work.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ms)))]);
  clearTimeout(timer);
  return timedOut;
}

import { performance } from 'node:perf_hooks';
import { InvalidArgumentError } from '../core/errors';
import { bounded } from './bounded';
import { PooledInstance, type PoolSlot } from './pooled-instance';
import type { DestroyReason, ServiceFactory } from './types';

/** How a create ended (`start()` reports the first failure). */
export type CreateOutcome = { ok: true } | { ok: false; error: unknown };

/** What the pool does with the results of factory calls. */
export interface LifecycleHooks<T> {
  /** A new instance is registered on its slot: lend it, or destroy it when nobody wants it any more. */
  created(instance: PooledInstance<T>, durationMs: number, signal: AbortSignal): void;
  /** A create failed (or returned an already pooled service). */
  createFailed(slot: PoolSlot<T>, instanceId: string, error: unknown, signal: AbortSignal): void;
  /** `factory.destroy` settled and the instance's memory is free; `failure` holds what it threw (or its timeout). */
  destroyed(instance: PooledInstance<T>, reason: DestroyReason, failure: { error: unknown } | undefined): void;
}

/** The factory and the bounds on its calls. */
export interface LifecycleOptions<T> {
  readonly name: string;
  readonly factory: ServiceFactory<T>;
  readonly createTimeoutMs: number;
  readonly validateTimeoutMs: number;
  readonly destroyTimeoutMs: number;
}

/**
 * Creates, validates and destroys instances through the factory, each call bounded by its
 * timeout, and keeps the slot's instance counts true while they run: `pendingCreates`
 * during a create, the instance in `instances` while it lives, its memory in
 * `destroyingMb` until `factory.destroy` has freed it.
 */
export class InstanceLifecycle<T> {
  /** Live instances by service (a lease and `pool.release(service)` find theirs here). */
  readonly byService = new Map<T, PooledInstance<T>>();
  /** Instances whose `factory.destroy` has not settled yet. */
  destroying = 0;
  private readonly creating = new Set<Promise<CreateOutcome>>();
  private controller = new AbortController();
  private sequence = 0;

  constructor(
    private readonly options: LifecycleOptions<T>,
    private readonly hooks: LifecycleHooks<T>,
  ) {}

  /** Creates in flight. */
  get creates(): number {
    return this.creating.size;
  }

  /** Waits for the creates in flight. */
  settleCreates(): Promise<CreateOutcome[]> {
    return Promise.all([...this.creating]);
  }

  /** Aborts the creates in flight (drain); instances they still return are destroyed. */
  abortCreates(reason: unknown): void {
    this.controller.abort(reason);
  }

  /** A fresh signal for the creates after a drain. */
  renew(): void {
    if (this.controller.signal.aborted) this.controller = new AbortController();
  }

  create(slot: PoolSlot<T>): void {
    const { factory, createTimeoutMs } = this.options;
    slot.pendingCreates += 1;
    const instanceId = `${this.options.name}:${slot.info.id}:${++this.sequence}`;
    const signal = this.controller.signal;
    const startedAt = performance.now();
    const device = { ...slot.info };
    const attempt = Promise.resolve().then(() => factory.create(device, { instanceId, signal }));
    const creation: Promise<CreateOutcome> = bounded(attempt, createTimeoutMs, 'create', () => {
      // Too late: an instance that still arrives is destroyed, never lent.
      void attempt.then(
        (late) => Promise.resolve(factory.destroy?.(late, device)).catch(() => undefined),
        () => undefined,
      );
    }).then(
      (service) => {
        slot.pendingCreates -= 1;
        if (this.byService.has(service)) {
          const error = new InvalidArgumentError(
            `ServicePool "${this.options.name}": factory.create returned a service that is already pooled; each call must return a new value`,
          );
          this.hooks.createFailed(slot, instanceId, error, signal);
          return { ok: false, error };
        }
        const instance = new PooledInstance(instanceId, service, slot, performance.now());
        slot.instances.add(instance);
        this.byService.set(service, instance);
        this.hooks.created(instance, performance.now() - startedAt, signal);
        return { ok: true };
      },
      (error: unknown) => {
        slot.pendingCreates -= 1;
        this.hooks.createFailed(slot, instanceId, error, signal);
        return { ok: false, error };
      },
    );
    this.creating.add(creation);
    void creation.then(() => this.creating.delete(creation));
  }

  /** Runs `factory.validate` within its timeout; a throw or a timeout counts as invalid. */
  validate(instance: PooledInstance<T>): Promise<boolean> {
    const validate = this.options.factory.validate!;
    return bounded(Promise.resolve().then(() => validate(instance.service, instance.slot.info)), this.options.validateTimeoutMs, 'validate').then(
      (valid) => Boolean(valid),
      () => false,
    );
  }

  /** Removes an instance from its slot at once and destroys it; resolves when `factory.destroy` is done. */
  destroy(instance: PooledInstance<T>, reason: DestroyReason): Promise<void> {
    const slot = instance.slot;
    slot.instances.delete(instance);
    if (this.byService.get(instance.service) === instance) this.byService.delete(instance.service);
    const position = slot.idle.indexOf(instance);
    if (position >= 0) slot.idle.splice(position, 1);
    instance.state = 'destroyed';
    // The memory stays reserved until the factory has actually freed it.
    slot.destroyingMb += slot.instanceMb;
    this.destroying += 1;
    const device = { ...slot.info };
    const destroy = this.options.factory.destroy;
    return bounded(Promise.resolve().then(() => destroy?.(instance.service, device)), this.options.destroyTimeoutMs, 'destroy')
      .then(
        () => undefined,
        (error: unknown) => ({ error }),
      )
      .then((failure) => {
        slot.destroyingMb -= slot.instanceMb;
        this.destroying -= 1;
        this.hooks.destroyed(instance, reason, failure);
      });
  }
}

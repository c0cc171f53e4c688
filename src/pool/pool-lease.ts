import { performance } from 'node:perf_hooks';
import type { PoolEvents } from './pool-events';
import type { ServiceLease } from './types';

/** What a lease needs from its pool. */
export interface LeaseOwner<T> {
  endLease(lease: PoolLease<T>, destroy: boolean): Promise<void>;
}

/** What a lease shows of the instance it lends (the pool's instance satisfies it). */
export interface LeasedInstance<T> {
  readonly id: string;
  readonly service: T;
  readonly slot: { readonly info: { readonly id: string } };
}

/**
 * The pool's {@link ServiceLease}: one borrowing of one instance, ended exactly once.
 * One small object per acquire, no closures.
 */
export class PoolLease<T> implements ServiceLease<T> {
  /** `'active'` until released or destroyed; the pool flips it before anything else. */
  state: 'active' | 'released' | 'destroyed' = 'active';
  /** Leak-detection timer, when `leaseTimeoutMs` is set. */
  timer: NodeJS.Timeout | undefined = undefined;
  readonly service: T;
  readonly device: string;
  readonly instanceId: string;

  constructor(
    private readonly owner: LeaseOwner<T>,
    /** The instance lent. */
    readonly instance: LeasedInstance<T>,
    readonly memoryMb: number,
    /** performance.now() when lent; 0 when the pool was not timing leases then (no listener, no timeouts). */
    public acquiredAt: number,
    /** Holder of the acquire's stack (leak detection), formatted only when read. */
    readonly acquireSite: { readonly stack?: string } | undefined,
  ) {
    this.service = instance.service;
    this.device = instance.slot.info.id;
    this.instanceId = instance.id;
  }

  /**
   * Leak detection: emits `pool:lease-timeout` once if the lease is still active after
   * `leaseTimeoutMs` (it is not taken back). The timer is unref'd and cleared on release.
   */
  watch(pool: string, leaseTimeoutMs: number, events: PoolEvents): void {
    this.timer = setTimeout(() => {
      if (this.state !== 'active') return;
      const stack = this.acquireSite?.stack;
      events.emit('pool:lease-timeout', {
        pool,
        device: this.device,
        instanceId: this.instanceId,
        heldMs: performance.now() - this.acquiredAt,
        leaseTimeoutMs,
        ...(stack ? { acquireStack: stack.replace(/^Error\n?/, 'Acquired at:\n') } : {}),
      });
    }, leaseTimeoutMs);
    this.timer.unref();
  }

  release(): Promise<void> {
    return this.owner.endLease(this, false);
  }

  destroy(): Promise<void> {
    return this.owner.endLease(this, true);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.state === 'active' ? this.release() : Promise.resolve();
  }
}

import type { ServiceLease } from './types';

/** What a lease needs from its pool. */
export interface LeaseOwner<T> {
  endLease(lease: PoolLease<T>, destroy: boolean): Promise<void>;
}

/** The pool's {@link ServiceLease}: one borrowing of one instance, ended exactly once. */
export class PoolLease<T> implements ServiceLease<T> {
  /** `'active'` until released or destroyed; the pool flips it before anything else. */
  state: 'active' | 'released' | 'destroyed' = 'active';
  /** Leak-detection timer, when `leaseTimeoutMs` is set. */
  timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly owner: LeaseOwner<T>,
    readonly service: T,
    readonly device: string,
    readonly instanceId: string,
    readonly memoryMb: number,
    readonly acquiredAt: number,
    /** Holder of the acquire's stack (leak detection), formatted only when read. */
    readonly acquireSite: { readonly stack?: string } | undefined,
  ) {}

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

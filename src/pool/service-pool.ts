import { InvalidArgumentError, InvalidReleaseError } from '../core/errors';
import { withTimeout } from './bounded';
import type { DeviceInfo } from './device';
import { utilizationOf } from './device-slot';
import { closedError } from './pool-errors';
import { PoolCore } from './pool-core';
import type { PoolListener } from './pool-events';
import type { LeaseOwner, PoolLease } from './pool-lease';
import { resolveAcquireOptions, resolveCloseOptions, resolvePoolOptions, type ResolvedAcquire, type ResolvedPoolOptions } from './pool-options';
import { poolStats } from './pool-stats';
import type { AcquireOptions, PoolCloseOptions, PoolStats, ServiceLease, ServicePoolEventName, ServicePoolOptions } from './types';
import { captureSite } from './waiter';

/**
 * A pool of expensive services (model sessions, OCR engines, connections) placed on
 * devices (`cpu`, `cuda:0`, ...). Services are created through a {@link ServiceFactory},
 * lent through leases, validated when reused, evicted when idle (keeping a minimum),
 * and destroyed on drain. `'auto'` requests go to the GPU with the most memory left
 * after what the pool and its leases reserve, then the least loaded one, and to the CPU
 * when no GPU has room.
 *
 * ```ts
 * const pool = new ServicePool({ factory: { create: async (device) => loadModel(device) }, maxPerDevice: 2 });
 * const result = await pool.use({ memoryMb: 1500 }, (model) => model.run(input));
 * await pool.close();
 * ```
 *
 * The public face of {@link PoolCore}, which composes placement, waiters and the instance
 * life cycle around one dispatch loop. An acquire that finds an idle instance is answered
 * at once, without a timer or a queue entry.
 */
export class ServicePool<T> implements LeaseOwner<T> {
  /** The pool's name (instance ids, messages, event payloads). */
  readonly name: string;

  private readonly options: ResolvedPoolOptions<T>;
  private readonly core: PoolCore<T>;
  /** `acquire()` without options. */
  private readonly defaultRequest: ResolvedAcquire;

  /** @throws InvalidArgumentError when an option is unknown or out of range. */
  constructor(options: ServicePoolOptions<T>) {
    this.options = resolvePoolOptions(options);
    this.name = this.options.name;
    this.core = new PoolCore(this.options);
    this.defaultRequest = resolveAcquireOptions(undefined, this.options.acquireTimeoutMs, this.name);
  }

  // ---------------------------------------------------------------- life cycle

  /**
   * Lists the devices and creates the minimum instances. Optional: the first acquire
   * starts the pool too. Rejects with the factory's error when a minimum instance could
   * not be created (the pool stays usable and keeps retrying with back-off), with
   * `DeviceUnavailableError` when the devices cannot be listed, and with
   * `PoolClosedError` when the pool is draining or closed.
   */
  async start(): Promise<void> {
    await this.core.ensureStarted();
    const outcomes = await this.core.lifecycle.settleCreates();
    const failure = outcomes.find((outcome) => !outcome.ok);
    if (failure && !failure.ok) throw failure.error;
  }

  /**
   * Borrows a service. Resolves with a lease to release (or destroy) exactly once.
   *
   * @throws PoolExhaustedError when nothing became available within the timeout, when no
   *   device can ever provide `memoryMb`, or when the factory keeps failing (`cause`).
   * @throws DeviceUnavailableError when `device` is unknown, unhealthy or disabled.
   * @throws PoolClosedError when the pool is draining or closed.
   * @throws the signal's reason when `signal` aborts first.
   */
  acquire(options?: AcquireOptions): Promise<ServiceLease<T>> {
    let request = this.defaultRequest;
    if (options !== undefined) {
      try {
        request = resolveAcquireOptions(options, this.options.acquireTimeoutMs, this.name);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const acquireSite = this.options.leaseTimeoutMs === undefined ? undefined : captureSite(ServicePool.prototype.acquire);
    return this.core.acquire(request, acquireSite);
  }

  /**
   * Returns a service lent by this pool, as `lease.release()` does (the seed's
   * `service_pool.release(service)`). Prefer `lease.release()`: a service released twice
   * through this method after it was lent again would end the newer lease.
   *
   * @throws InvalidReleaseError when the service is not currently lent by this pool.
   */
  release(service: T): Promise<void> {
    const lease = this.core.lifecycle.byService.get(service)?.lease;
    if (!lease) {
      return Promise.reject(new InvalidReleaseError(`ServicePool "${this.name}": release() of a service this pool has not lent out`));
    }
    return lease.release();
  }

  /**
   * Acquires a service, runs `fn` with it and releases it however `fn` ends (unless
   * `fn` released or destroyed the lease itself).
   */
  use<R>(fn: (service: T, lease: ServiceLease<T>) => Promise<R> | R): Promise<R>;
  use<R>(options: AcquireOptions, fn: (service: T, lease: ServiceLease<T>) => Promise<R> | R): Promise<R>;
  async use<R>(
    optionsOrFn: AcquireOptions | ((service: T, lease: ServiceLease<T>) => Promise<R> | R),
    maybeFn?: (service: T, lease: ServiceLease<T>) => Promise<R> | R,
  ): Promise<R> {
    const [options, fn] = typeof optionsOrFn === 'function' ? [undefined, optionsOrFn] : [optionsOrFn, maybeFn];
    if (typeof fn !== 'function') throw new InvalidArgumentError(`ServicePool "${this.name}": use() needs a function`);
    const lease = await this.acquire(options);
    try {
      return await fn(lease.service, lease);
    } finally {
      if ((lease as PoolLease<T>).state === 'active') await lease.release();
    }
  }

  /**
   * Empties the pool: stops lending (queued and later acquires reject with
   * `PoolClosedError` until it is done), aborts creates in flight, waits for every lease
   * to come back and destroys every instance. Afterwards the pool can be used again
   * (the next acquire starts it); `close()` ends it for good. A leaked lease keeps this
   * waiting: pass `timeoutMs` to be told which leases are still out, and use
   * `leaseTimeoutMs` to find where they were taken.
   *
   * @throws PoolClosedError naming every lease still out when `timeoutMs` passes first
   *   (the drain goes on: those instances are destroyed when their leases end).
   */
  drain(options?: PoolCloseOptions): Promise<void> {
    let timeoutMs: number | undefined;
    try {
      timeoutMs = resolveCloseOptions(options, this.name);
    } catch (error) {
      return Promise.reject(error);
    }
    const core = this.core;
    if (core.state === 'closed') return Promise.resolve();
    if (!core.drainPromise) core.beginDrain();
    const drained = core.drainPromise!;
    core.checkDrained();
    return timeoutMs === undefined ? drained : withTimeout(drained, timeoutMs, () => core.leasesOutError(timeoutMs));
  }

  /**
   * Drains the pool, then rejects every further acquire with `PoolClosedError`. Idempotent.
   * With `timeoutMs`, rejects with a `PoolClosedError` naming the leases still out when
   * they have not all come back by then.
   */
  close(options?: PoolCloseOptions): Promise<void> {
    try {
      resolveCloseOptions(options, this.name);
    } catch (error) {
      return Promise.reject(error);
    }
    this.core.closing = true;
    return this.drain(options);
  }

  /** Same as {@link ServicePool.close} (`await using pool = new ServicePool(...)`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---------------------------------------------------------------- devices and stats

  /** The devices the pool knows (snapshots), in probe order. Empty before the pool starts. */
  devices(): DeviceInfo[] {
    return this.core.inventory.slots.map((slot) => ({ ...slot.info }));
  }

  /**
   * Probes the devices again (fresh free memory, health, GPUs that came or went). A
   * device that disappeared or turned unhealthy gets no new work; its idle instances are
   * destroyed and leased ones when they come back.
   *
   * @throws DeviceUnavailableError when the probe fails; PoolClosedError after close().
   */
  async refreshDevices(): Promise<void> {
    const core = this.core;
    if (core.closing || core.state === 'closed') throw closedError(this.name, 'closed');
    await core.loadDevices();
    core.rescanAll = true;
    if (core.state === 'running') core.dispatch();
  }

  /** A snapshot of the pool per device, and totals. */
  stats(): PoolStats {
    const { state, inventory, waiters } = this.core;
    return poolStats(this.name, state, inventory.slots, waiters.queued, waiters.waitingByTarget());
  }

  /** In-use instances over the maximum, per device id (0 to 1). */
  utilization(): Record<string, number> {
    const result: Record<string, number> = {};
    for (const slot of this.core.inventory.slots) result[slot.info.id] = utilizationOf(slot);
    return result;
  }

  // ---------------------------------------------------------------- events

  /**
   * Adds a listener. A listener that throws does not disturb the pool; its error is
   * rethrown asynchronously (an uncaught exception, as with Node's emitters).
   */
  on<E extends ServicePoolEventName>(event: E, listener: PoolListener<E>): this {
    this.core.events.on(event, listener);
    return this;
  }

  /** Adds a listener that runs once. */
  once<E extends ServicePoolEventName>(event: E, listener: PoolListener<E>): this {
    this.core.events.once(event, listener);
    return this;
  }

  /** Removes a listener. */
  off<E extends ServicePoolEventName>(event: E, listener: PoolListener<E>): this {
    this.core.events.off(event, listener);
    return this;
  }

  // ---------------------------------------------------------------- leases (LeaseOwner)

  /** @internal Ends a lease; called by the lease itself. */
  endLease(lease: PoolLease<T>, destroy: boolean): Promise<void> {
    return this.core.endLease(lease, destroy);
  }
}

import { EventEmitter } from 'eventemitter3';
import { performance } from 'node:perf_hooks';
import {
  DeviceUnavailableError,
  InvalidArgumentError,
  InvalidReleaseError,
  PoolClosedError,
  PoolExhaustedError,
} from '../core/errors';
import { stickyDeviceProbe } from './detect-devices';
import type { DeviceProbe } from './device';
import type { DeviceInfo } from './device';
import { PoolLease, type LeaseOwner } from './pool-lease';
import {
  resolveAcquireOptions,
  resolvePoolOptions,
  SERVICE_POOL_DEFAULTS,
  validateDevices,
  type ResolvedAcquire,
  type ResolvedPoolOptions,
} from './pool-options';
import type {
  AcquireOptions,
  DestroyReason,
  DeviceCandidate,
  DeviceStats,
  PoolState,
  PoolStats,
  ServiceLease,
  ServicePoolEventName,
  ServicePoolEvents,
  ServicePoolOptions,
} from './types';

type Listener<E extends ServicePoolEventName> = (payload: ServicePoolEvents[E]) => void;

/** One pooled service. */
interface Instance<T> {
  readonly id: string;
  readonly service: T;
  readonly slot: DeviceSlot<T>;
  state: 'idle' | 'validating' | 'in-use' | 'destroyed';
  /** Created and not lent yet: lent without validation (an always-invalid validate cannot loop). */
  fresh: boolean;
  lastUsedAt: number;
  /** Memory reserved by the lease being validated for or holding this instance. */
  leaseMb: number;
  lease: PoolLease<T> | undefined;
}

/** The pool's book-keeping for one device. */
interface DeviceSlot<T> {
  info: DeviceInfo;
  readonly instanceMb: number;
  readonly min: number;
  readonly max: number;
  readonly budgetMb: number;
  readonly enabled: boolean;
  /** Idle, validating and in-use instances (not those being destroyed). */
  readonly instances: Set<Instance<T>>;
  /** Idle instances, least recently used first (lent from the end). */
  readonly idle: Instance<T>[];
  /** Instances lent or being validated for a lease. */
  inUse: number;
  leaseMb: number;
  pendingCreates: number;
  destroyingMb: number;
  /** Instance memory the pool held when `info` was probed (already missing from its free memory). */
  baselineMb: number;
  consecutiveFailures: number;
  lastCreateError: unknown;
  /** No create on this device before this time (performance.now()). */
  retryAt: number;
  retryTimer: NodeJS.Timeout | undefined;
}

/** One acquire that has not been answered yet. */
interface Waiter<T> {
  readonly request: ResolvedAcquire;
  readonly startedAt: number;
  /** Where the acquire was called (leak detection); V8 formats the stack only when it is read. */
  readonly acquireSite: StackHolder | undefined;
  readonly resolve: (lease: ServiceLease<T>) => void;
  readonly reject: (error: unknown) => void;
  settled: boolean;
  /** In `waiters` (as opposed to starting up or being validated for). */
  queued: boolean;
  timer: NodeJS.Timeout | undefined;
  removeAbortListener: (() => void) | undefined;
  /** The device the request is waiting for, for stats and error messages. */
  target: string | undefined;
}

type Plan<T> =
  | { kind: 'idle'; slot: DeviceSlot<T>; instance: Instance<T> }
  | { kind: 'pending'; slot: DeviceSlot<T> }
  | { kind: 'create'; slot: DeviceSlot<T> }
  | { kind: 'wait'; slot: DeviceSlot<T> | undefined }
  | { kind: 'fail'; error: unknown };

type CreateOutcome = { ok: true } | { ok: false; error: unknown };

/**
 * Memory and pending creates promised to earlier waiters during one dispatch pass, so
 * that later waiters in the same pass do not count on them too.
 */
class Claims<T> {
  private readonly bySlot = new Map<DeviceSlot<T>, { mb: number; pending: number }>();

  mb(slot: DeviceSlot<T>): number {
    return this.bySlot.get(slot)?.mb ?? 0;
  }

  pending(slot: DeviceSlot<T>): number {
    return this.bySlot.get(slot)?.pending ?? 0;
  }

  add(slot: DeviceSlot<T>, mb: number): void {
    const claim = this.bySlot.get(slot);
    if (claim) {
      claim.mb += mb;
      claim.pending += 1;
    } else {
      this.bySlot.set(slot, { mb, pending: 1 });
    }
  }
}

const now = (): number => performance.now();

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
 */
export class ServicePool<T> implements LeaseOwner<T> {
  /** The pool's name (instance ids, messages, event payloads). */
  readonly name: string;

  private readonly options: ResolvedPoolOptions<T>;
  private readonly emitter = new EventEmitter();
  private defaultProbe: DeviceProbe | undefined;
  private readonly onceWrappers = new WeakMap<object, (payload: unknown) => void>();
  private readonly slots = new Map<string, DeviceSlot<T>>();
  private readonly byService = new Map<T, Instance<T>>();
  /** Queued waiters, first come first served. */
  private readonly waiters: Waiter<T>[] = [];
  /** Every unanswered waiter (queued, starting up, or being validated for). */
  private readonly live = new Set<Waiter<T>>();
  private readonly creating = new Set<Promise<CreateOutcome>>();
  private state: PoolState = 'new';
  private closing = false;
  private devicesLoaded = false;
  private loading: Promise<void> | undefined;
  private createController = new AbortController();
  private evictionTimer: NodeJS.Timeout | undefined;
  private drainPromise: Promise<void> | undefined;
  private drainResolve: (() => void) | undefined;
  private destroying = 0;
  private sequence = 0;
  private dispatching = false;
  private dispatchAgain = false;
  /** Plan every queued waiter on the next pass, even with nothing to lend (failure state changed). */
  private rescanAll = false;
  /** Bumped by every drain, so a start that was overtaken by one does not restart the pool. */
  private generation = 0;

  /** @throws InvalidArgumentError when an option is unknown or out of range. */
  constructor(options: ServicePoolOptions<T>) {
    this.options = resolvePoolOptions(options);
    this.name = this.options.name;
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
    await this.ensureStarted();
    const outcomes = await Promise.all([...this.creating]);
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
    let request: ResolvedAcquire;
    try {
      request = resolveAcquireOptions(options, this.options.acquireTimeoutMs, this.name);
    } catch (error) {
      return Promise.reject(error);
    }
    const closed = this.closedError();
    if (closed) return Promise.reject(closed);
    if (request.signal?.aborted) return Promise.reject(abortReason(request.signal));
    const acquireSite = this.options.leaseTimeoutMs === undefined ? undefined : captureSite();

    return new Promise<ServiceLease<T>>((resolve, reject) => {
      const waiter: Waiter<T> = {
        request,
        startedAt: now(),
        acquireSite,
        resolve,
        reject,
        settled: false,
        queued: false,
        timer: undefined,
        removeAbortListener: undefined,
        target: request.device === 'auto' ? undefined : request.device,
      };
      if (this.state === 'running' && this.waiters.length === 0 && this.serveAtOnce(waiter)) return;
      this.watch(waiter);
      if (this.state === 'running') this.enqueue(waiter);
      else this.ensureStarted().then(() => this.enqueue(waiter), (error: unknown) => this.rejectWaiter(waiter, error));
    });
  }

  /**
   * Returns a service lent by this pool, as `lease.release()` does (the seed's
   * `service_pool.release(service)`). Prefer `lease.release()`: a service released twice
   * through this method after it was lent again would end the newer lease.
   *
   * @throws InvalidReleaseError when the service is not currently lent by this pool.
   */
  async release(service: T): Promise<void> {
    const instance = this.byService.get(service);
    if (!instance?.lease) {
      throw new InvalidReleaseError(`ServicePool "${this.name}": release() of a service this pool has not lent out`);
    }
    return instance.lease.release();
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
   * waiting: `leaseTimeoutMs` reports leases held too long.
   */
  drain(): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    if (this.drainPromise) return this.drainPromise;
    this.state = 'draining';
    this.generation += 1;
    this.drainPromise = new Promise<void>((resolve) => {
      this.drainResolve = resolve;
    });
    const error = new PoolClosedError(`ServicePool "${this.name}" is ${this.closing ? 'closing' : 'draining'}`);
    for (const waiter of [...this.live]) this.rejectWaiter(waiter, error);
    this.createController.abort(error);
    if (this.evictionTimer) clearInterval(this.evictionTimer);
    this.evictionTimer = undefined;
    for (const slot of this.slots.values()) {
      clearTimeout(slot.retryTimer);
      slot.retryTimer = undefined;
      slot.retryAt = 0;
      slot.consecutiveFailures = 0;
      slot.lastCreateError = undefined;
      for (const instance of [...slot.idle]) void this.destroyInstance(instance, 'drain');
    }
    const drained = this.drainPromise;
    this.checkDrained();
    return drained;
  }

  /** Drains the pool, then rejects every further acquire with `PoolClosedError`. Idempotent. */
  close(): Promise<void> {
    this.closing = true;
    return this.drain();
  }

  /** Same as {@link ServicePool.close} (`await using pool = new ServicePool(...)`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---------------------------------------------------------------- devices and stats

  /** The devices the pool knows (snapshots), in probe order. Empty before the pool starts. */
  devices(): DeviceInfo[] {
    return [...this.slots.values()].map((slot) => ({ ...slot.info }));
  }

  /**
   * Probes the devices again (fresh free memory, health, GPUs that came or went). A
   * device that disappeared or turned unhealthy gets no new work; its idle instances are
   * destroyed and leased ones when they come back.
   *
   * @throws DeviceUnavailableError when the probe fails; PoolClosedError after close().
   */
  async refreshDevices(): Promise<void> {
    if (this.closing || this.state === 'closed') throw new PoolClosedError(`ServicePool "${this.name}" is closed`);
    await this.loadDevices();
    this.rescanAll = true;
    if (this.state === 'running') this.dispatch();
  }

  /** A snapshot of the pool per device, and totals. */
  stats(): PoolStats {
    const waitingBy = new Map<string, number>();
    for (const waiter of this.waiters) {
      if (waiter.target) waitingBy.set(waiter.target, (waitingBy.get(waiter.target) ?? 0) + 1);
    }
    const devices: Record<string, DeviceStats> = {};
    const totals = {
      size: 0,
      inUse: 0,
      idle: 0,
      waiting: this.waiters.length,
      pendingCreates: 0,
      reservedMemoryMb: 0,
      totalMemoryMb: 0,
      freeMemoryMb: 0,
      utilization: 0,
    };
    let capacity = 0;
    for (const slot of this.slots.values()) {
      const stats: DeviceStats = {
        device: slot.info.id,
        kind: slot.info.kind,
        healthy: slot.info.healthy,
        enabled: slot.enabled,
        min: slot.min,
        max: slot.max,
        size: slot.instances.size,
        inUse: slot.inUse,
        idle: slot.idle.length,
        waiting: waitingBy.get(slot.info.id) ?? 0,
        pendingCreates: slot.pendingCreates,
        reservedMemoryMb: this.reserved(slot),
        totalMemoryMb: slot.info.totalMemoryMb,
        freeMemoryMb: slot.info.freeMemoryMb,
        availableMemoryMb: this.available(slot),
        utilization: slot.max > 0 ? slot.inUse / slot.max : 0,
        consecutiveCreateFailures: slot.consecutiveFailures,
      };
      if (Number.isFinite(slot.budgetMb)) stats.memoryBudgetMb = slot.budgetMb;
      devices[slot.info.id] = stats;
      totals.size += stats.size;
      totals.inUse += stats.inUse;
      totals.idle += stats.idle;
      totals.pendingCreates += stats.pendingCreates;
      totals.reservedMemoryMb += stats.reservedMemoryMb;
      if (slot.enabled) {
        totals.totalMemoryMb += stats.totalMemoryMb;
        totals.freeMemoryMb += stats.freeMemoryMb;
      }
      if (isUsable(slot)) capacity += slot.max;
    }
    totals.utilization = capacity > 0 ? totals.inUse / capacity : 0;
    return { name: this.name, state: this.state, devices, totals };
  }

  /** In-use instances over the maximum, per device id (0 to 1). */
  utilization(): Record<string, number> {
    const result: Record<string, number> = {};
    for (const slot of this.slots.values()) result[slot.info.id] = slot.max > 0 ? slot.inUse / slot.max : 0;
    return result;
  }

  // ---------------------------------------------------------------- events

  /**
   * Adds a listener. A listener that throws does not disturb the pool; its error is
   * rethrown asynchronously (an uncaught exception, as with Node's emitters).
   */
  on<E extends ServicePoolEventName>(event: E, listener: Listener<E>): this {
    this.emitter.on(event, listener as (payload: unknown) => void);
    return this;
  }

  /** Adds a listener that runs once. */
  once<E extends ServicePoolEventName>(event: E, listener: Listener<E>): this {
    const wrapper = (payload: unknown): void => {
      this.off(event, listener);
      (listener as (payload: unknown) => void)(payload);
    };
    this.onceWrappers.set(listener, wrapper);
    this.emitter.on(event, wrapper);
    return this;
  }

  /** Removes a listener. */
  off<E extends ServicePoolEventName>(event: E, listener: Listener<E>): this {
    const wrapper = this.onceWrappers.get(listener);
    if (wrapper) this.emitter.off(event, wrapper);
    this.emitter.off(event, listener as (payload: unknown) => void);
    return this;
  }

  private emit<E extends ServicePoolEventName>(event: E, payload: ServicePoolEvents[E]): void {
    if (this.emitter.listenerCount(event) === 0) return;
    for (const listener of this.emitter.listeners(event)) {
      try {
        (listener as (payload: unknown) => void)(payload);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  // ---------------------------------------------------------------- leases (LeaseOwner)

  /** @internal Ends a lease; called by the lease itself. */
  async endLease(lease: PoolLease<T>, destroy: boolean): Promise<void> {
    if (lease.state !== 'active') {
      throw new InvalidReleaseError(
        `ServicePool "${this.name}": the lease of ${lease.instanceId} was already ${lease.state}; a lease ends once`,
      );
    }
    lease.state = destroy ? 'destroyed' : 'released';
    clearTimeout(lease.timer);
    const instance = this.byService.get(lease.service);
    if (!instance || instance.lease !== lease) return; // Unreachable: a lease outlives its instance only when ended.
    instance.lease = undefined;
    this.emit('pool:release', {
      pool: this.name,
      device: lease.device,
      instanceId: lease.instanceId,
      heldMs: now() - lease.acquiredAt,
      destroyed: destroy,
    });
    if (destroy) {
      this.releaseReservation(instance);
      await this.destroyInstance(instance, 'lease');
    } else {
      this.returnInstance(instance);
    }
  }

  // ---------------------------------------------------------------- starting

  private ensureStarted(): Promise<void> {
    const closed = this.closedError();
    if (closed) return Promise.reject(closed);
    if (this.state === 'running') return Promise.resolve();
    if (this.devicesLoaded) {
      this.resume();
      return Promise.resolve();
    }
    const generation = this.generation;
    this.loading ??= this.loadDevices().finally(() => {
      this.loading = undefined;
    });
    return this.loading.then(() => {
      const closedNow = this.closedError();
      if (closedNow) throw closedNow;
      if (generation !== this.generation) throw new PoolClosedError(`ServicePool "${this.name}" was drained while starting`);
      if (this.state !== 'running') this.resume();
    });
  }

  private resume(): void {
    this.state = 'running';
    if (this.createController.signal.aborted) this.createController = new AbortController();
    const interval = this.options.evictionIntervalMs;
    if (this.options.idleTimeoutMs !== undefined && interval !== undefined && !this.evictionTimer) {
      this.evictionTimer = setInterval(() => this.evict(), interval);
      this.evictionTimer.unref();
    }
    this.dispatch();
  }

  private async loadDevices(): Promise<void> {
    const prefix = `ServicePool "${this.name}":`;
    let fresh: Array<{ info: DeviceInfo; slot: DeviceSlot<T> | undefined }>;
    try {
      const source = this.options.devices;
      const listed = Array.isArray(source) ? source : await (source ?? (this.defaultProbe ??= stickyDeviceProbe()))();
      fresh = validateDevices(listed, prefix).map((info) => ({
        info,
        slot: this.slots.has(info.id) ? undefined : this.newSlot(info),
      }));
    } catch (error) {
      throw new DeviceUnavailableError(`${prefix} could not list devices: ${messageOf(error)}`, { cause: error });
    }
    const seen = new Set<string>();
    for (const { info, slot } of fresh) {
      seen.add(info.id);
      const existing = this.slots.get(info.id);
      if (existing) {
        existing.info = info;
        // Everything the pool held when the probe ran (instances and leases' reservations):
        // the probe already counts it as used.
        existing.baselineMb = existing.instances.size * existing.instanceMb + existing.leaseMb;
      } else if (slot) {
        this.slots.set(info.id, slot);
      }
    }
    for (const slot of this.slots.values()) {
      if (!seen.has(slot.info.id)) slot.info = { ...slot.info, healthy: false, freeMemoryMb: 0 };
      if (!isUsable(slot)) {
        for (const instance of [...slot.idle]) void this.destroyInstance(instance, 'device-unavailable');
      }
    }
    this.devicesLoaded = true;
  }

  private newSlot(info: DeviceInfo): DeviceSlot<T> {
    const limits = this.options.perDevice[info.id] ?? {};
    const memory = this.options.factory.memoryMb;
    const instanceMb = typeof memory === 'function' ? memory(info) : (memory ?? 0);
    if (typeof instanceMb !== 'number' || !Number.isFinite(instanceMb) || instanceMb < 0) {
      throw new InvalidArgumentError(`factory.memoryMb returned ${String(instanceMb)} for device "${info.id}"; expected a number >= 0`);
    }
    return {
      info,
      instanceMb,
      min: limits.min ?? this.options.minPerDevice,
      max: limits.max ?? this.options.maxPerDevice,
      budgetMb: limits.memoryBudgetMb ?? Infinity,
      enabled: limits.enabled ?? true,
      instances: new Set(),
      idle: [],
      inUse: 0,
      leaseMb: 0,
      pendingCreates: 0,
      destroyingMb: 0,
      baselineMb: 0,
      consecutiveFailures: 0,
      lastCreateError: undefined,
      retryAt: 0,
      retryTimer: undefined,
    };
  }

  // ---------------------------------------------------------------- waiters

  /** Arms the waiter's timeout and abort listener. */
  private watch(waiter: Waiter<T>): void {
    this.live.add(waiter);
    const { timeoutMs, signal } = waiter.request;
    if (timeoutMs !== Infinity) {
      waiter.timer = setTimeout(() => {
        if (!waiter.settled) this.rejectWaiter(waiter, this.timeoutError(waiter));
      }, timeoutMs);
      // Not unref'd: someone awaits this acquire, so the process must live to settle it.
    }
    if (signal) {
      const onAbort = (): void => this.rejectWaiter(waiter, abortReason(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      waiter.removeAbortListener = () => signal.removeEventListener('abort', onAbort);
    }
  }

  private enqueue(waiter: Waiter<T>): void {
    if (waiter.settled) return;
    const closed = this.closedError();
    if (closed) {
      this.rejectWaiter(waiter, closed);
      return;
    }
    // Fail fast (unknown device, too large, factory failing) even when the queue is long.
    const plan = this.safePlan(waiter, new Claims<T>());
    if (plan.kind === 'fail') {
      this.rejectWaiter(waiter, plan.error);
      return;
    }
    if (plan.slot) waiter.target = plan.slot.info.id;
    this.waiters.push(waiter);
    waiter.queued = true;
    this.dispatch();
  }

  /** Marks the waiter answered and forgets it; false when it already was. */
  private settle(waiter: Waiter<T>): boolean {
    if (waiter.settled) return false;
    waiter.settled = true;
    this.live.delete(waiter);
    clearTimeout(waiter.timer);
    waiter.removeAbortListener?.();
    if (waiter.queued) this.unqueue(waiter);
    return true;
  }

  private unqueue(waiter: Waiter<T>): void {
    const index = this.waiters.indexOf(waiter);
    if (index >= 0) this.waiters.splice(index, 1);
    waiter.queued = false;
    if (this.dispatching) this.dispatchAgain = true;
  }

  private rejectWaiter(waiter: Waiter<T>, error: unknown): void {
    if (this.settle(waiter)) waiter.reject(error);
  }

  // ---------------------------------------------------------------- dispatch

  /** Serves what can be served now; runs after every change of state. Never re-entered. */
  private dispatch(): void {
    if (this.dispatching) {
      this.dispatchAgain = true;
      return;
    }
    this.dispatching = true;
    try {
      do {
        this.dispatchAgain = false;
        if (this.state !== 'running') break;
        this.serveWaiters();
        this.ensureMinimum();
      } while (this.dispatchAgain);
    } finally {
      this.dispatching = false;
    }
  }

  private serveWaiters(): void {
    const claims = new Claims<T>();
    const rescan = this.rescanAll;
    this.rescanAll = false;
    let index = 0;
    while (index < this.waiters.length && this.state === 'running') {
      // Nothing left to lend or create: the rest of the queue can only wait, so stop here
      // (this keeps a release O(1) with many waiters). Ways to fail are checked on enqueue
      // and on a full rescan after failures and device changes.
      if (!rescan && !this.hasSupply(claims)) break;
      const waiter = this.waiters[index]!;
      const plan = this.safePlan(waiter, claims);
      switch (plan.kind) {
        case 'idle':
          this.waiters.splice(index, 1);
          waiter.queued = false;
          this.lend(plan.instance, waiter);
          continue;
        case 'fail':
          this.waiters.splice(index, 1);
          waiter.queued = false;
          this.rejectWaiter(waiter, plan.error);
          continue;
        case 'create':
          this.startCreate(plan.slot);
          claims.add(plan.slot, waiter.request.memoryMb);
          waiter.target = plan.slot.info.id;
          break;
        case 'pending':
          claims.add(plan.slot, waiter.request.memoryMb);
          waiter.target = plan.slot.info.id;
          break;
        case 'wait':
          waiter.target = plan.slot?.info.id ?? waiter.target;
          break;
      }
      index += 1;
    }
  }

  /** Something could be lent or created for some request (memory aside). */
  private hasSupply(claims: Claims<T>): boolean {
    for (const slot of this.slots.values()) {
      if (!isUsable(slot)) continue;
      if (slot.idle.length > 0 || slot.pendingCreates > claims.pending(slot)) return true;
      if (slot.instances.size + slot.pendingCreates < slot.max && now() >= slot.retryAt) return true;
    }
    return false;
  }

  /** The fast path: an idle instance that needs no validation, with nobody queued. */
  private serveAtOnce(waiter: Waiter<T>): boolean {
    if (this.dispatching) return false;
    const plan = this.safePlan(waiter, new Claims<T>());
    if (plan.kind !== 'idle' || this.needsValidation(plan.instance)) return false;
    this.lend(plan.instance, waiter);
    return true;
  }

  private safePlan(waiter: Waiter<T>, claims: Claims<T>): Plan<T> {
    try {
      return this.plan(waiter, claims);
    } catch (error) {
      return { kind: 'fail', error };
    }
  }

  private plan(waiter: Waiter<T>, claims: Claims<T>): Plan<T> {
    const { device, memoryMb } = waiter.request;
    if (device !== 'auto') {
      const slot = this.slots.get(device);
      if (!slot || !isUsable(slot)) return { kind: 'fail', error: this.unavailableError(device, slot) };
      if (this.neverFits(slot, memoryMb)) return { kind: 'fail', error: this.tooLargeError(memoryMb, [slot]) };
      return this.planAcross([slot], memoryMb, claims) ?? this.waitOrFail([slot]);
    }

    const all = [...this.slots.values()];
    const hasGpu = all.some((slot) => slot.info.kind === 'cuda' && slot.enabled && slot.max > 0);
    const cpuAllowed = !hasGpu || this.options.cpuFallback;
    const allowed = all.filter((slot) => isUsable(slot) && (slot.info.kind === 'cuda' || cpuAllowed));
    if (allowed.length === 0) {
      const why = hasGpu ? 'no healthy GPU and cpuFallback is off' : 'no healthy, enabled device';
      return { kind: 'fail', error: new DeviceUnavailableError(`ServicePool "${this.name}": ${why}`) };
    }
    const eligible = allowed.filter((slot) => !this.neverFits(slot, memoryMb));
    if (eligible.length === 0) return { kind: 'fail', error: this.tooLargeError(memoryMb, allowed) };
    const primary = hasGpu ? eligible.filter((slot) => slot.info.kind === 'cuda') : eligible;
    const fallback = hasGpu ? eligible.filter((slot) => slot.info.kind !== 'cuda') : [];

    if (this.options.selector) {
      const ranked = [...this.rank(primary, claims), ...this.rank(fallback, claims)];
      const chosen = this.options.selector(
        ranked.map((slot) => this.candidate(slot, memoryMb, claims)),
        waiter.request.original,
      );
      if (chosen !== undefined) {
        const slot = ranked.find((candidate) => candidate.info.id === chosen);
        if (!slot) {
          const ids = ranked.map((candidate) => candidate.info.id).join(', ');
          return {
            kind: 'fail',
            error: new InvalidArgumentError(`ServicePool "${this.name}": selector chose "${String(chosen)}", which is not a candidate (${ids})`),
          };
        }
        return this.planAcross([slot], memoryMb, claims) ?? this.waitOrFail([slot]);
      }
    }

    // GPUs with room for the request now, unless their factory keeps failing.
    const fitting = this.rank(
      primary.filter((slot) => this.memoryFits(slot, memoryMb, claims) && (!this.broken(slot) || slot.idle.length > 0)),
      claims,
    );
    const onPrimary = this.planAcross(fitting, memoryMb, claims);
    if (onPrimary) return onPrimary;
    if (fitting.length > 0) return { kind: 'wait', slot: fitting[0] };
    const rankedFallback = this.rank(fallback, claims);
    const onFallback = this.planAcross(rankedFallback, memoryMb, claims);
    if (onFallback) return onFallback;
    return this.waitOrFail(rankedFallback.length > 0 ? [...rankedFallback, ...primary] : eligible);
  }

  /** Best way to serve `memoryMb` on these devices (in order): an idle instance, then one being created, then a new one. */
  private planAcross(slots: DeviceSlot<T>[], memoryMb: number, claims: Claims<T>): Plan<T> | undefined {
    for (const slot of slots) {
      if (slot.idle.length > 0 && this.memoryFits(slot, memoryMb, claims)) {
        return { kind: 'idle', slot, instance: slot.idle[slot.idle.length - 1]! };
      }
    }
    for (const slot of slots) {
      if (slot.pendingCreates > claims.pending(slot) && this.memoryFits(slot, memoryMb, claims)) return { kind: 'pending', slot };
    }
    for (const slot of slots) {
      if (this.canCreate(slot, memoryMb, claims)) return { kind: 'create', slot };
    }
    return undefined;
  }

  /** Waits, unless every device is failing to create and has nothing that could come back. */
  private waitOrFail(slots: DeviceSlot<T>[]): Plan<T> {
    const hopeless = slots.length > 0 && slots.every((slot) => this.broken(slot) && slot.instances.size === 0 && slot.pendingCreates === 0);
    if (!hopeless) return { kind: 'wait', slot: slots.find((slot) => !this.broken(slot)) ?? slots[0] };
    const first = slots[0]!;
    return {
      kind: 'fail',
      error: new PoolExhaustedError(
        `ServicePool "${this.name}": creating a service failed ${first.consecutiveFailures} times in a row on ` +
          `${slots.map((slot) => slot.info.id).join(', ')} (last error: ${messageOf(first.lastCreateError)})`,
        { cause: first.lastCreateError },
      ),
    };
  }

  private rank(slots: DeviceSlot<T>[], claims: Claims<T>): DeviceSlot<T>[] {
    if (slots.length < 2) return slots;
    return slots
      // Instances being created count as load, so a burst of requests spreads over the devices.
      .map((slot) => ({
        slot,
        available: this.available(slot) - claims.mb(slot),
        load: slot.max > 0 ? (slot.inUse + slot.pendingCreates) / slot.max : 1,
      }))
      .sort((a, b) => b.available - a.available || a.load - b.load)
      .map((entry) => entry.slot);
  }

  private candidate(slot: DeviceSlot<T>, memoryMb: number, claims: Claims<T>): DeviceCandidate {
    return {
      device: slot.info,
      size: slot.instances.size,
      inUse: slot.inUse,
      idle: slot.idle.length,
      pendingCreates: slot.pendingCreates,
      min: slot.min,
      max: slot.max,
      reservedMemoryMb: this.reserved(slot) + claims.mb(slot),
      availableMemoryMb: this.available(slot) - claims.mb(slot),
      load: slot.max > 0 ? slot.inUse / slot.max : 1,
      fits: this.memoryFits(slot, memoryMb, claims),
      ready: this.planAcross([slot], memoryMb, claims) !== undefined,
    };
  }

  // ---------------------------------------------------------------- memory arithmetic

  /** Memory held by instances (existing, being created, being destroyed). */
  private instanceMemory(slot: DeviceSlot<T>): number {
    return (slot.instances.size + slot.pendingCreates) * slot.instanceMb + slot.destroyingMb;
  }

  private reserved(slot: DeviceSlot<T>): number {
    return this.instanceMemory(slot) + slot.leaseMb;
  }

  /** Free memory at the probe, corrected for what the pool reserved since. */
  private available(slot: DeviceSlot<T>): number {
    return slot.info.freeMemoryMb + slot.baselineMb - this.instanceMemory(slot) - slot.leaseMb;
  }

  private hasRoom(slot: DeviceSlot<T>, neededMb: number, claims: Claims<T>): boolean {
    if (neededMb === 0) return true;
    const claimed = claims.mb(slot);
    return this.available(slot) - claimed >= neededMb && slot.budgetMb - this.reserved(slot) - claimed >= neededMb;
  }

  private memoryFits(slot: DeviceSlot<T>, memoryMb: number, claims: Claims<T>): boolean {
    return this.hasRoom(slot, memoryMb, claims);
  }

  private canCreate(slot: DeviceSlot<T>, memoryMb: number, claims: Claims<T>): boolean {
    if (slot.instances.size + slot.pendingCreates >= slot.max) return false;
    if (now() < slot.retryAt) return false;
    // After a failure, probe with one create at a time rather than hammer the device.
    if (slot.consecutiveFailures > 0 && slot.pendingCreates > 0) return false;
    return this.hasRoom(slot, memoryMb + slot.instanceMb, claims);
  }

  /** The request could not fit even with nothing else of the pool's on the device. */
  private neverFits(slot: DeviceSlot<T>, memoryMb: number): boolean {
    const needed = memoryMb + slot.instanceMb;
    return needed > 0 && (needed > slot.info.freeMemoryMb + slot.baselineMb || needed > slot.budgetMb);
  }

  /** Creates keep failing and the device is still in its back-off. */
  private broken(slot: DeviceSlot<T>): boolean {
    return slot.consecutiveFailures >= this.options.maxCreateFailures && now() < slot.retryAt;
  }

  // ---------------------------------------------------------------- lending

  private needsValidation(instance: Instance<T>): boolean {
    return this.options.validateOnBorrow && !instance.fresh && typeof this.options.factory.validate === 'function';
  }

  /** Hands an idle instance to a waiter (after validation when needed). */
  private lend(instance: Instance<T>, waiter: Waiter<T>): void {
    const slot = instance.slot;
    const position = slot.idle.lastIndexOf(instance);
    if (position >= 0) slot.idle.splice(position, 1);
    slot.inUse += 1;
    slot.leaseMb += waiter.request.memoryMb;
    instance.leaseMb = waiter.request.memoryMb;
    if (!this.needsValidation(instance)) {
      instance.fresh = false;
      this.grant(instance, waiter);
      return;
    }
    instance.state = 'validating';
    bounded(Promise.resolve().then(() => this.options.factory.validate!(instance.service, slot.info)), this.options.validateTimeoutMs, 'validate')
      .then(
        (valid) => Boolean(valid),
        () => false,
      )
      .then((valid) => this.afterValidation(instance, waiter, valid));
  }

  private afterValidation(instance: Instance<T>, waiter: Waiter<T>, valid: boolean): void {
    const usable = isUsable(instance.slot);
    if (!valid || !usable) {
      this.releaseReservation(instance);
      void this.destroyInstance(instance, valid ? 'device-unavailable' : 'invalid');
      if (!waiter.settled && this.state === 'running') {
        this.waiters.unshift(waiter);
        waiter.queued = true;
      }
      this.dispatch();
      return;
    }
    // A waiter that timed out or aborted meanwhile never gets it.
    if (waiter.settled || this.state !== 'running') {
      this.returnInstance(instance);
      return;
    }
    this.grant(instance, waiter);
  }

  private grant(instance: Instance<T>, waiter: Waiter<T>): void {
    instance.state = 'in-use';
    const acquiredAt = now();
    const slot = instance.slot;
    const lease = new PoolLease<T>(
      this,
      instance.service,
      slot.info.id,
      instance.id,
      waiter.request.memoryMb,
      acquiredAt,
      waiter.acquireSite,
    );
    instance.lease = lease;
    this.settle(waiter);
    const leaseTimeoutMs = this.options.leaseTimeoutMs;
    if (leaseTimeoutMs !== undefined) {
      lease.timer = setTimeout(() => {
        if (lease.state !== 'active') return;
        this.emit('pool:lease-timeout', {
          pool: this.name,
          device: lease.device,
          instanceId: lease.instanceId,
          heldMs: now() - lease.acquiredAt,
          leaseTimeoutMs,
          ...(lease.acquireSite?.stack ? { acquireStack: lease.acquireSite.stack.replace(/^Error\n?/, 'Acquired at:\n') } : {}),
        });
      }, leaseTimeoutMs);
      lease.timer.unref();
    }
    waiter.resolve(lease);
    this.emit('pool:acquire', {
      pool: this.name,
      device: slot.info.id,
      instanceId: instance.id,
      memoryMb: lease.memoryMb,
      waitedMs: acquiredAt - waiter.startedAt,
    });
  }

  private releaseReservation(instance: Instance<T>): void {
    const slot = instance.slot;
    slot.inUse -= 1;
    slot.leaseMb -= instance.leaseMb;
    instance.leaseMb = 0;
  }

  /** Takes an instance back from a lease (or an abandoned validation). */
  private returnInstance(instance: Instance<T>): void {
    this.releaseReservation(instance);
    const slot = instance.slot;
    if (this.state !== 'running' || !isUsable(slot)) {
      void this.destroyInstance(instance, this.state === 'running' ? 'device-unavailable' : 'drain');
      return;
    }
    instance.state = 'idle';
    instance.lastUsedAt = now();
    slot.idle.push(instance);
    this.dispatch();
  }

  // ---------------------------------------------------------------- creating and destroying

  private startCreate(slot: DeviceSlot<T>): void {
    slot.pendingCreates += 1;
    const instanceId = `${this.name}:${slot.info.id}:${++this.sequence}`;
    const signal = this.createController.signal;
    const startedAt = now();
    const device = { ...slot.info };
    const attempt = Promise.resolve().then(() => this.options.factory.create(device, { instanceId, signal }));
    const creation: Promise<CreateOutcome> = bounded(attempt, this.options.createTimeoutMs, 'create', () => {
      // Too late: an instance that still arrives is destroyed, never lent.
      void attempt.then(
        (late) => Promise.resolve(this.options.factory.destroy?.(late, device)).catch(() => undefined),
        () => undefined,
      );
    })
      .then(
        (service) => this.onCreated(slot, instanceId, service, startedAt, signal),
        (error: unknown) => {
          slot.pendingCreates -= 1;
          return this.onCreateFailed(slot, instanceId, error, signal);
        },
      );
    this.creating.add(creation);
    void creation.then(() => this.creating.delete(creation));
  }

  private onCreated(slot: DeviceSlot<T>, instanceId: string, service: T, startedAt: number, signal: AbortSignal): CreateOutcome {
    slot.pendingCreates -= 1;
    if (this.byService.has(service)) {
      const error = new InvalidArgumentError(
        `ServicePool "${this.name}": factory.create returned a service that is already pooled; each call must return a new value`,
      );
      return this.onCreateFailed(slot, instanceId, error, signal);
    }
    const instance: Instance<T> = {
      id: instanceId,
      service,
      slot,
      state: 'idle',
      fresh: true,
      lastUsedAt: now(),
      leaseMb: 0,
      lease: undefined,
    };
    if (signal.aborted || this.state !== 'running' || !isUsable(slot)) {
      // Nobody wants it any more (drain, or the device went away while it was created).
      instance.state = 'destroyed';
      void this.destroyInstance(instance, this.state === 'running' ? 'device-unavailable' : 'drain');
      return { ok: true };
    }
    slot.consecutiveFailures = 0;
    slot.lastCreateError = undefined;
    slot.retryAt = 0;
    clearTimeout(slot.retryTimer);
    slot.retryTimer = undefined;
    slot.instances.add(instance);
    slot.idle.push(instance);
    this.byService.set(service, instance);
    this.emit('pool:create', { pool: this.name, device: slot.info.id, instanceId, durationMs: now() - startedAt });
    this.dispatch();
    return { ok: true };
  }

  private onCreateFailed(slot: DeviceSlot<T>, instanceId: string, error: unknown, signal: AbortSignal): CreateOutcome {
    if (signal.aborted || this.state !== 'running') {
      this.checkDrained();
      return { ok: false, error };
    }
    slot.consecutiveFailures += 1;
    slot.lastCreateError = error;
    const base = this.options.createRetryDelayMs;
    const delay = Math.min(base * 2 ** (slot.consecutiveFailures - 1), Math.max(base, SERVICE_POOL_DEFAULTS.maxCreateRetryDelayMs));
    slot.retryAt = now() + delay;
    clearTimeout(slot.retryTimer);
    slot.retryTimer = setTimeout(() => {
      slot.retryTimer = undefined;
      slot.retryAt = 0;
      this.rescanAll = true;
      this.dispatch();
    }, delay);
    // Not unref'd either: waiters may depend on this retry (it is bounded and cleared on close).
    this.emit('pool:create-error', {
      pool: this.name,
      device: slot.info.id,
      instanceId,
      error,
      consecutiveFailures: slot.consecutiveFailures,
      retryInMs: delay,
    });
    this.rescanAll = true;
    this.dispatch();
    return { ok: false, error };
  }

  /** Removes an instance at once and destroys it; resolves when `factory.destroy` is done. */
  private destroyInstance(instance: Instance<T>, reason: DestroyReason): Promise<void> {
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
    const done = bounded(Promise.resolve().then(() => this.options.factory.destroy?.(instance.service, device)), this.options.destroyTimeoutMs, 'destroy')
      .then(
        () => undefined,
        (error: unknown) => ({ error }),
      )
      .then((failure) => {
        slot.destroyingMb -= slot.instanceMb;
        this.destroying -= 1;
        this.emit('pool:destroy', {
          pool: this.name,
          device: slot.info.id,
          instanceId: instance.id,
          reason,
          ...(failure ? { error: failure.error } : {}),
        });
        this.dispatch();
        this.checkDrained();
      });
    this.dispatch();
    return done;
  }

  /** Keeps every usable device at its minimum. */
  private ensureMinimum(): void {
    const none = new Claims<T>();
    for (const slot of this.slots.values()) {
      if (!isUsable(slot)) continue;
      while (slot.instances.size + slot.pendingCreates < slot.min && this.canCreate(slot, 0, none)) this.startCreate(slot);
    }
  }

  private evict(): void {
    const idleTimeoutMs = this.options.idleTimeoutMs;
    if (this.state !== 'running' || idleTimeoutMs === undefined) return;
    const time = now();
    for (const slot of this.slots.values()) {
      let spare = slot.instances.size - (isUsable(slot) ? slot.min : 0);
      for (const instance of [...slot.idle]) {
        if (spare <= 0) break;
        const idleMs = time - instance.lastUsedAt;
        if (idleMs < idleTimeoutMs) continue;
        spare -= 1;
        this.emit('pool:evict', { pool: this.name, device: slot.info.id, instanceId: instance.id, idleMs });
        void this.destroyInstance(instance, 'idle');
      }
    }
  }

  private checkDrained(): void {
    if (this.state !== 'draining' || this.destroying > 0) return;
    for (const slot of this.slots.values()) {
      if (slot.inUse > 0 || slot.pendingCreates > 0 || slot.instances.size > 0) return;
    }
    this.state = this.closing ? 'closed' : 'drained';
    const resolve = this.drainResolve;
    this.drainPromise = undefined;
    this.drainResolve = undefined;
    resolve?.();
  }

  // ---------------------------------------------------------------- errors

  private closedError(): PoolClosedError | undefined {
    if (this.closing || this.state === 'closed') return new PoolClosedError(`ServicePool "${this.name}" is closed`);
    if (this.state === 'draining') return new PoolClosedError(`ServicePool "${this.name}" is draining`);
    return undefined;
  }

  private unavailableError(id: string, slot: DeviceSlot<T> | undefined): DeviceUnavailableError {
    let why: string;
    if (!slot) why = `unknown (known: ${[...this.slots.keys()].join(', ') || 'none'})`;
    else if (!slot.info.healthy) why = 'unhealthy';
    else if (!slot.enabled) why = 'disabled in perDevice';
    else why = 'not used by this pool (max 0)';
    return new DeviceUnavailableError(`ServicePool "${this.name}": device "${id}" is ${why}`);
  }

  private tooLargeError(memoryMb: number, slots: DeviceSlot<T>[]): PoolExhaustedError {
    const limits = slots
      .map((slot) => `${slot.info.id}: ${Math.min(slot.info.freeMemoryMb + slot.baselineMb, slot.budgetMb)} MB, ${slot.instanceMb} MB per instance`)
      .join('; ');
    return new PoolExhaustedError(`ServicePool "${this.name}": no device can ever provide ${memoryMb} MB (${limits})`);
  }

  private timeoutError(waiter: Waiter<T>): PoolExhaustedError {
    const slot = waiter.target ? this.slots.get(waiter.target) : undefined;
    const failing = slot?.lastCreateError !== undefined ? slot : [...this.slots.values()].find((s) => s.lastCreateError !== undefined);
    const where = waiter.request.device === 'auto' ? `'auto'${slot ? ` (waiting for ${slot.info.id})` : ''}` : `"${waiter.request.device}"`;
    const state = slot ? `; ${slot.inUse}/${slot.max} in use, ${slot.pendingCreates} being created` : '';
    const cause = failing?.lastCreateError;
    return new PoolExhaustedError(
      `ServicePool "${this.name}": no service became available on ${where} within ${waiter.request.timeoutMs} ms` +
        `${state}; ${this.waiters.length} waiting${cause !== undefined ? `; last create error: ${messageOf(cause)}` : ''}`,
      cause !== undefined ? { cause } : undefined,
    );
  }
}

function isUsable<T>(slot: DeviceSlot<T>): boolean {
  return slot.info.healthy && slot.enabled && slot.max > 0;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

interface StackHolder {
  stack?: string;
}

/** Captures the caller's stack; reading `stack` later formats it (capturing alone is cheap). */
function captureSite(): StackHolder {
  const holder: StackHolder = {};
  Error.captureStackTrace(holder, ServicePool.prototype.acquire);
  return holder;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A factory call that took longer than its timeout. */
class FactoryTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`factory.${what} did not settle within ${ms} ms`);
    this.name = 'FactoryTimeoutError';
  }
}

/**
 * Races a factory call against its timeout (tarn.js's create/destroy timeouts): a call that
 * hangs must not hold a slot, memory, or drain()/close() for ever. `onTimeout` runs once
 * when the timer wins.
 */
function bounded<R>(work: Promise<R>, ms: number, what: string, onTimeout?: () => void): Promise<R> {
  if (!Number.isFinite(ms)) return work;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new FactoryTimeoutError(what, ms));
    }, ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

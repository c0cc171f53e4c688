import { performance } from 'node:perf_hooks';
import { InvalidReleaseError, PoolClosedError } from '../core/errors';
import { backoffClock, forgetFailures, noteCreateFailure } from './create-backoff';
import { DeviceInventory } from './device-inventory';
import { canCreate, isUsable, NO_CLAIMS, PassClaims } from './device-slot';
import { dueForEviction } from './idle-eviction';
import { InstanceLifecycle } from './instance-lifecycle';
import { hasSupply, place, waitsOn, type PlacementRules } from './placement';
import { abortReason, acquireTimeoutError, closedError, leasesOutError, leasesOutOf } from './pool-errors';
import { PoolEvents } from './pool-events';
import { PoolLease, type LeaseOwner } from './pool-lease';
import { SERVICE_POOL_DEFAULTS, type ResolvedAcquire, type ResolvedPoolOptions } from './pool-options';
import type { PooledInstance, PoolSlot } from './pooled-instance';
import type { DestroyReason, PoolState, ServiceLease } from './types';
import { UNSTAMPED, Waiter, type StackHolder } from './waiter';
import { WaiterList } from './waiter-list';

const now = (): number => performance.now();
/** What a release resolves with: one shared settled promise, so a release allocates none. */
const RELEASED: Promise<void> = Promise.resolve();

/**
 * What a {@link ServicePool} does behind its public methods: it composes placement
 * (`placement.ts`, pure), the waiters (`waiter-list.ts`) and the instance life cycle
 * (`instance-lifecycle.ts`) around ONE dispatch loop, which runs after every change of
 * state and is never re-entered.
 *
 * Hot paths: an acquire finding an idle instance with nobody queued answers `Promise.resolve(lease)`
 * (no timer, no queue); a release puts the instance back, or hands it straight to the oldest waiter.
 */
export class PoolCore<T> implements LeaseOwner<T> {
  readonly name: string;
  readonly events = new PoolEvents();
  readonly inventory: DeviceInventory<T>;
  readonly lifecycle: InstanceLifecycle<T>;
  readonly waiters: WaiterList<T>;
  state: PoolState = 'new';
  /** `close()` was called: never lend again. */
  closing = false;
  private readonly rules: PlacementRules;
  private readonly claims = new PassClaims<PooledInstance<T>>();
  /** Some device keeps a minimum of instances. */
  private readonly keepsMinimum: boolean;
  /** Leases are timed (a release listener or leak detection needs it). */
  private timing: boolean;
  private loading: Promise<void> | undefined;
  private evictionTimer: NodeJS.Timeout | undefined;
  /** Settles when the drain in progress is done. */
  drainPromise: Promise<void> | undefined;
  private drainResolve: (() => void) | undefined;
  private dispatching = false;
  private dispatchAgain = false;
  /** Place every queued waiter on the next pass, even with nothing to lend (failure state changed). */
  rescanAll = false;
  /** Bumped by every drain, so a start that was overtaken by one does not restart the pool. */
  private generation = 0;

  constructor(private readonly options: ResolvedPoolOptions<T>) {
    this.name = options.name;
    const { cpuFallback, maxCreateFailures, selector } = options;
    this.rules = { poolName: this.name, cpuFallback, maxCreateFailures, selector };
    this.inventory = new DeviceInventory(options);
    this.lifecycle = new InstanceLifecycle(options, {
      created: (instance, durationMs, signal) => this.onCreated(instance, durationMs, signal),
      createFailed: (slot, instanceId, error, signal) => this.onCreateFailed(slot, instanceId, error, signal),
      destroyed: (instance, reason, failure) => this.onDestroyed(instance, reason, failure),
    });
    this.waiters = new WaiterList<T>(
      (waiter) => this.rejectWaiter(waiter, this.timeoutError(waiter)),
      (waiter) => this.rejectWaiter(waiter, abortReason(waiter.request.signal!)),
    );
    this.keepsMinimum = options.minPerDevice > 0 || Object.values(options.perDevice).some((limits) => (limits.min ?? 0) > 0);
    this.timing = options.leaseTimeoutMs !== undefined;
    this.events.onFirstListener = (event) => {
      if (event === 'pool:release' && !this.timing) this.startTiming();
    };
  }

  /** Answers a validated request: at once from an idle instance, else through a waiter. */
  acquire(request: ResolvedAcquire, acquireSite: StackHolder | undefined): Promise<ServiceLease<T>> {
    if (this.state !== 'running') {
      const closed = this.closedError();
      if (closed) return Promise.reject(closed);
    }
    const signal = request.signal;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    // The hot path: nobody queued and an idle instance that needs no validation.
    if (this.state === 'running' && this.waiters.queued === 0 && !this.dispatching) {
      const lease = this.lendAtOnce(request, acquireSite);
      if (lease) return Promise.resolve(lease);
    }
    // No clock reading per wait: the waiter list stamps the waiters of a turn at once, unless `waitedMs` is wanted.
    const waiter = new Waiter<T>(this.waiters, request, this.events.acquireListened ? now() : UNSTAMPED, acquireSite);
    this.waiters.add(waiter);
    if (this.state === 'running') this.enqueue(waiter);
    else this.ensureStarted().then(() => this.enqueue(waiter), (error: unknown) => this.rejectWaiter(waiter, error));
    return waiter.promise;
  }

  // ---------------------------------------------------------------- leases

  /** Ends a lease; called by the lease itself. */
  endLease(lease: PoolLease<T>, destroy: boolean): Promise<void> {
    if (lease.state !== 'active') {
      return Promise.reject(
        new InvalidReleaseError(`ServicePool "${this.name}": the lease of ${lease.instanceId} was already ${lease.state}; a lease ends once`),
      );
    }
    lease.state = destroy ? 'destroyed' : 'released';
    if (lease.timer) clearTimeout(lease.timer);
    const instance = lease.instance as PooledInstance<T>;
    if (instance.lease !== lease) return RELEASED; // Unreachable: a lease outlives its instance only when ended.
    instance.lease = undefined;
    if (this.events.releaseListened) {
      this.events.emit('pool:release', {
        pool: this.name,
        device: lease.device,
        instanceId: lease.instanceId,
        heldMs: lease.acquiredAt > 0 ? now() - lease.acquiredAt : 0,
        destroyed: destroy,
      });
    }
    if (destroy) {
      this.releaseReservation(instance);
      return this.destroy(instance, 'lease');
    }
    this.returnInstance(instance);
    return RELEASED;
  }

  // ---------------------------------------------------------------- starting

  ensureStarted(): Promise<void> {
    const closed = this.closedError();
    if (closed) return Promise.reject(closed);
    if (this.state === 'running') return Promise.resolve();
    if (this.inventory.loaded) {
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
    this.lifecycle.renew();
    const interval = this.options.evictionIntervalMs;
    if (this.options.idleTimeoutMs !== undefined && interval !== undefined && !this.evictionTimer) {
      this.evictionTimer = setInterval(() => this.evict(), interval);
      this.evictionTimer.unref();
    }
    this.dispatch();
  }

  async loadDevices(): Promise<void> {
    await this.inventory.load();
    for (const slot of this.inventory.slots) {
      if (!isUsable(slot)) for (const instance of [...slot.idle]) void this.destroy(instance, 'device-unavailable');
    }
  }

  /** Leases taken from now on are timed, and those out now count from now. */
  private startTiming(): void {
    this.timing = true;
    const time = now();
    for (const slot of this.inventory.slots) {
      for (const instance of slot.instances) if (instance.lease && instance.lease.acquiredAt === 0) instance.lease.acquiredAt = time;
    }
  }

  // ---------------------------------------------------------------- waiters

  private enqueue(waiter: Waiter<T>): void {
    if (waiter.settled) return;
    const closed = this.closing || this.state !== 'running' ? this.closedError() : undefined;
    if (closed) return this.rejectWaiter(waiter, closed);
    // The common case (one device, every instance lent, nothing reserved) can only wait: queued without
    // a placement answer. Others fail fast here (unknown device, too large, factory failing), however long the queue.
    const slots = this.inventory.slots;
    const waitSlot = waitsOn(waiter.request, slots, this.rules);
    const placement = waitSlot ? undefined : place(waiter.request, slots, NO_CLAIMS, this.rules, backoffClock(slots));
    if (placement?.kind === 'fail') return this.rejectWaiter(waiter, placement.error);
    const slot = waitSlot ?? placement?.slot;
    if (slot) waiter.target = slot.info.id;
    this.waiters.setQueued(waiter, true);
    // A request that can only wait changes nothing for the others: no pass needed.
    if ((placement !== undefined && placement.kind !== 'wait') || this.rescanAll) this.dispatch();
  }

  /** Marks the waiter answered and forgets it; false when it already was. */
  private settle(waiter: Waiter<T>): boolean {
    if (waiter.settled) return false;
    waiter.settled = true;
    if (waiter.queued && this.dispatching) this.dispatchAgain = true;
    this.waiters.remove(waiter);
    return true;
  }

  private rejectWaiter(waiter: Waiter<T>, error: unknown): void {
    if (this.settle(waiter)) waiter.reject(error);
  }

  // ---------------------------------------------------------------- dispatch

  /** Serves what can be served now; runs after every change of state. Never re-entered. */
  dispatch(): void {
    if (this.dispatching) {
      this.dispatchAgain = true;
      return;
    }
    this.dispatching = true;
    try {
      do {
        this.dispatchAgain = false;
        if (this.state !== 'running') break;
        if (this.waiters.queued > 0) this.serveWaiters();
        if (this.keepsMinimum) this.ensureMinimum();
      } while (this.dispatchAgain);
    } finally {
      this.dispatching = false;
    }
  }

  private serveWaiters(): void {
    const claims = this.claims;
    claims.reset();
    const rescan = this.rescanAll;
    this.rescanAll = false;
    const slots = this.inventory.slots;
    const time = backoffClock(slots);
    let waiter = this.waiters.first();
    while (waiter && this.state === 'running') {
      const next = waiter.next;
      if (!waiter.queued) {
        waiter = next;
        continue;
      }
      // Ways to fail are checked on enqueue, and on a full rescan after failures and device changes.
      if (!rescan && !hasSupply(slots, claims, time)) break;
      const placement = place(waiter.request, slots, claims, this.rules, time);
      switch (placement.kind) {
        case 'idle':
          this.waiters.setQueued(waiter, false);
          this.lend(placement.instance, waiter);
          break;
        case 'fail':
          this.rejectWaiter(waiter, placement.error);
          break;
        case 'create':
          this.lifecycle.create(placement.slot as PoolSlot<T>); // placement answers with one of our slots
          claims.add(placement.slot, waiter.request.memoryMb);
          waiter.target = placement.slot.info.id;
          break;
        case 'pending':
          claims.add(placement.slot, waiter.request.memoryMb);
          waiter.target = placement.slot.info.id;
          break;
        case 'wait':
          waiter.target = placement.slot?.info.id ?? waiter.target;
          break;
      }
      waiter = next;
    }
  }

  // ---------------------------------------------------------------- lending

  private needsValidation(instance: PooledInstance<T>): boolean {
    return this.options.validateOnBorrow && !instance.fresh && typeof this.options.factory.validate === 'function';
  }

  /** The hot path: an idle instance that needs no validation, lent without a waiter. */
  private lendAtOnce(request: ResolvedAcquire, acquireSite: StackHolder | undefined): PoolLease<T> | undefined {
    const placement = place(request, this.inventory.slots, NO_CLAIMS, this.rules, backoffClock(this.inventory.slots));
    if (placement.kind !== 'idle' || this.needsValidation(placement.instance)) return undefined;
    const instance = placement.instance;
    this.reserve(instance, request.memoryMb);
    instance.fresh = false;
    return this.handOut(instance, acquireSite, this.timing ? now() : 0, 0);
  }

  /** Hands an idle instance to a waiter (after validation when needed). */
  private lend(instance: PooledInstance<T>, waiter: Waiter<T>): void {
    this.reserve(instance, waiter.request.memoryMb);
    if (!this.needsValidation(instance)) {
      instance.fresh = false;
      this.grant(instance, waiter);
      return;
    }
    instance.state = 'validating';
    void this.lifecycle.validate(instance).then((valid) => this.afterValidation(instance, waiter, valid));
  }

  /** Takes an idle instance out of its slot's idle list and reserves the request's memory with it. */
  private reserve(instance: PooledInstance<T>, memoryMb: number): void {
    const slot = instance.slot;
    const idle = slot.idle;
    if (idle[idle.length - 1] === instance) idle.pop();
    else {
      const position = idle.lastIndexOf(instance);
      if (position >= 0) idle.splice(position, 1);
    }
    slot.inUse += 1;
    slot.leaseMb += memoryMb;
    instance.leaseMb = memoryMb;
  }

  private afterValidation(instance: PooledInstance<T>, waiter: Waiter<T>, valid: boolean): void {
    if (!valid || !isUsable(instance.slot)) {
      this.releaseReservation(instance);
      void this.destroy(instance, valid ? 'device-unavailable' : 'invalid');
      // Back in line, in its place of arrival.
      if (!waiter.settled && this.state === 'running') this.waiters.setQueued(waiter, true);
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

  private grant(instance: PooledInstance<T>, waiter: Waiter<T>): void {
    instance.fresh = false;
    this.settle(waiter);
    const acquiredAt = this.timing || this.events.acquireListened ? now() : 0;
    // Unstamped: queued in this turn before anyone listened to pool:acquire.
    const waitedMs = acquiredAt > 0 && waiter.startedAt !== UNSTAMPED ? acquiredAt - waiter.startedAt : 0;
    waiter.resolve(this.handOut(instance, waiter.acquireSite, acquiredAt, waitedMs));
  }

  /** Makes the lease of a reserved instance: leak detection, `pool:acquire`. */
  private handOut(instance: PooledInstance<T>, acquireSite: StackHolder | undefined, acquiredAt: number, waitedMs: number): PoolLease<T> {
    instance.state = 'in-use';
    const lease = new PoolLease<T>(this, instance, instance.leaseMb, acquiredAt, acquireSite);
    instance.lease = lease;
    const leaseTimeoutMs = this.options.leaseTimeoutMs;
    if (leaseTimeoutMs !== undefined) lease.watch(this.name, leaseTimeoutMs, this.events);
    if (this.events.acquireListened) {
      this.events.emit('pool:acquire', { pool: this.name, device: lease.device, instanceId: instance.id, memoryMb: lease.memoryMb, waitedMs });
    }
    return lease;
  }

  private releaseReservation(instance: PooledInstance<T>): void {
    const slot = instance.slot;
    slot.inUse -= 1;
    slot.leaseMb -= instance.leaseMb;
    instance.leaseMb = 0;
  }

  /** Takes an instance back from a lease (or an abandoned validation). */
  private returnInstance(instance: PooledInstance<T>): void {
    this.releaseReservation(instance);
    const slot = instance.slot;
    if (this.state !== 'running' || !isUsable(slot)) {
      void this.destroy(instance, this.state === 'running' ? 'device-unavailable' : 'drain');
      return;
    }
    // Many borrowers, few instances: straight to the oldest waiter when placement could only choose it.
    const waiter = this.waiters.queued > 0 && !this.dispatching && !this.rescanAll && !this.rules.selector && this.inventory.slots.length === 1 && !this.needsValidation(instance) ? this.waiters.takeFor(slot.info.id) : undefined;
    if (waiter) {
      slot.inUse += 1; // leaseMb stays 0: the request reserves none
      return this.grant(instance, waiter);
    }
    instance.state = 'idle';
    if (this.options.idleTimeoutMs !== undefined) instance.lastUsedAt = now();
    slot.idle.push(instance);
    if (this.waiters.queued > 0) this.dispatch();
  }

  // ---------------------------------------------------------------- creating and destroying

  private onCreated(instance: PooledInstance<T>, durationMs: number, signal: AbortSignal): void {
    const slot = instance.slot;
    if (signal.aborted || this.state !== 'running' || !isUsable(slot)) {
      // Nobody wants it any more (drain, or the device went away while it was created).
      void this.destroy(instance, this.state === 'running' ? 'device-unavailable' : 'drain');
      return;
    }
    forgetFailures(slot);
    slot.idle.push(instance);
    this.events.emit('pool:create', { pool: this.name, device: slot.info.id, instanceId: instance.id, durationMs });
    this.dispatch();
  }

  private onCreateFailed(slot: PoolSlot<T>, instanceId: string, error: unknown, signal: AbortSignal): void {
    if (signal.aborted || this.state !== 'running') {
      this.checkDrained();
      return;
    }
    const delay = noteCreateFailure(slot, error, this.options.createRetryDelayMs, SERVICE_POOL_DEFAULTS.maxCreateRetryDelayMs, () => {
      this.rescanAll = true;
      this.dispatch();
    });
    const consecutiveFailures = slot.consecutiveFailures;
    this.events.emit('pool:create-error', { pool: this.name, device: slot.info.id, instanceId, error, consecutiveFailures, retryInMs: delay });
    this.rescanAll = true;
    this.dispatch();
  }

  private destroy(instance: PooledInstance<T>, reason: DestroyReason): Promise<void> {
    const done = this.lifecycle.destroy(instance, reason);
    this.dispatch();
    return done;
  }

  private onDestroyed(instance: PooledInstance<T>, reason: DestroyReason, failure: { error: unknown } | undefined): void {
    this.events.emit('pool:destroy', {
      pool: this.name,
      device: instance.slot.info.id,
      instanceId: instance.id,
      reason,
      ...(failure ? { error: failure.error } : {}),
    });
    this.dispatch();
    this.checkDrained();
  }

  /** Keeps every usable device at its minimum. */
  private ensureMinimum(): void {
    const time = backoffClock(this.inventory.slots);
    for (const slot of this.inventory.slots) {
      if (!isUsable(slot)) continue;
      while (slot.instances.size + slot.pendingCreates < slot.min && canCreate(slot, 0, NO_CLAIMS, time)) this.lifecycle.create(slot);
    }
  }

  private evict(): void {
    const idleTimeoutMs = this.options.idleTimeoutMs;
    if (this.state !== 'running' || idleTimeoutMs === undefined) return;
    for (const { instance, idleMs } of dueForEviction(this.inventory.slots, idleTimeoutMs, now())) {
      this.events.emit('pool:evict', { pool: this.name, device: instance.slot.info.id, instanceId: instance.id, idleMs });
      void this.destroy(instance, 'idle');
    }
  }

  // ---------------------------------------------------------------- draining

  beginDrain(): void {
    this.state = 'draining';
    this.generation += 1;
    this.drainPromise = new Promise<void>((resolve) => {
      this.drainResolve = resolve;
    });
    const error = closedError(this.name, this.closing ? 'closing' : 'draining');
    for (const waiter of this.waiters.all()) this.rejectWaiter(waiter, error);
    this.lifecycle.abortCreates(error);
    if (this.evictionTimer) clearInterval(this.evictionTimer);
    this.evictionTimer = undefined;
    for (const slot of this.inventory.slots) {
      forgetFailures(slot);
      for (const instance of [...slot.idle]) void this.destroy(instance, 'drain');
    }
  }

  checkDrained(): void {
    if (this.state !== 'draining' || this.lifecycle.destroying > 0) return;
    for (const slot of this.inventory.slots) {
      if (slot.inUse > 0 || slot.pendingCreates > 0 || slot.instances.size > 0) return;
    }
    this.state = this.closing ? 'closed' : 'drained';
    const resolve = this.drainResolve;
    this.drainPromise = undefined;
    this.drainResolve = undefined;
    resolve?.();
  }

  /** Every lease still out, for a drain or close that timed out. */
  leasesOutError(timeoutMs: number): PoolClosedError {
    const { leases, validating } = leasesOutOf(this.inventory.slots, now());
    return leasesOutError(this.name, this.closing ? 'close()' : 'drain()', timeoutMs, leases, {
      validating,
      creating: this.lifecycle.creates,
      recordingSites: this.options.leaseTimeoutMs !== undefined,
    });
  }

  closedError(): PoolClosedError | undefined {
    const why = this.closing || this.state === 'closed' ? 'closed' : this.state === 'draining' ? 'draining' : undefined;
    return why && closedError(this.name, why);
  }

  private timeoutError(waiter: Waiter<T>) {
    const target = waiter.target ? this.inventory.get(waiter.target) : undefined;
    return acquireTimeoutError(this.name, waiter.request, target, this.inventory.slots, this.waiters.queued);
  }
}

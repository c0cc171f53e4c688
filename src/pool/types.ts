import type { DeviceInfo, DeviceKind, DeviceProbe } from './device';

/** What {@link ServiceFactory.create} receives besides the device. */
export interface CreateContext {
  /** Id the new instance will have in leases, stats and events. */
  instanceId: string;
  /**
   * Aborted when the pool drains or closes while the instance is being created. The
   * pool destroys an instance that arrives after that, so honouring it only saves time.
   */
  signal: AbortSignal;
}

/** Creates, checks and destroys the services a {@link ServicePool} lends. */
export interface ServiceFactory<T> {
  /**
   * Creates one service on `device`. May be slow (loading a model); a rejection counts
   * as a create failure (see `createRetryDelayMs` and `maxCreateFailures`). Each call
   * must return a distinct value: the pool finds a lease by its service.
   */
  create(device: DeviceInfo, ctx: CreateContext): Promise<T>;
  /** Frees a service (idle eviction, failed validation, `lease.destroy()`, drain). Errors are reported in `pool:destroy`. */
  destroy?(service: T, device: DeviceInfo): Promise<void> | void;
  /**
   * Checks a reused service before it is lent again (only when `validateOnBorrow` is on).
   * Falsy or a throw destroys it and the request is served by another or a new instance.
   * A freshly created service is lent without validation.
   */
  validate?(service: T, device: DeviceInfo): Promise<boolean> | boolean;
  /**
   * Memory one instance takes on its device, in MiB (model weights, workspace): a
   * number, or a function of the device evaluated once when the pool first sees it.
   * Counted against free memory and `memoryBudgetMb` for as long as the instance exists.
   * @defaultValue `0`
   */
  memoryMb?: number | ((device: DeviceInfo) => number);
}

/** Limits of one device, overriding the pool-wide ones. */
export interface DeviceLimits {
  /** Instances kept on this device even when idle. @defaultValue the pool's `minPerDevice` */
  min?: number;
  /** Most instances on this device. `0` keeps the pool off it. @defaultValue the pool's `maxPerDevice` */
  max?: number;
  /**
   * Most memory (MiB) the pool reserves on this device: instance memory plus the
   * `memoryMb` of current leases. Never exceeded. @defaultValue no budget beyond free memory
   */
  memoryBudgetMb?: number;
  /** `false` keeps the pool off this device entirely. @defaultValue `true` */
  enabled?: boolean;
}

/** Options of {@link ServicePool}. Unknown keys are rejected. */
export interface ServicePoolOptions<T> {
  /** Name used in instance ids, error messages and event payloads. @defaultValue `'service-pool'` */
  name?: string;
  /** Creates, validates and destroys the pooled services. */
  factory: ServiceFactory<T>;
  /**
   * The devices to place services on: a fixed list, or a probe run on first use and
   * by `refreshDevices()`. @defaultValue `detectDevices` (the CPU and visible NVIDIA GPUs)
   */
  devices?: DeviceInfo[] | DeviceProbe;
  /** Instances kept on every device even when idle; created by `start()` or the first acquire. @defaultValue `0` */
  minPerDevice?: number;
  /** Most instances on every device. @defaultValue `1` */
  maxPerDevice?: number;
  /** Limits per device id (`'cpu'`, `'cuda:0'`, ...), overriding the pool-wide ones. */
  perDevice?: Record<string, DeviceLimits>;
  /**
   * How long an acquire waits before it fails with `PoolExhaustedError`; `Infinity` waits for ever.
   * Counted from the end of the event-loop turn the acquire was queued in (one clock reading
   * for all the acquires of that turn), so it never fires early. @defaultValue `30000`
   */
  acquireTimeoutMs?: number;
  /** How long an instance may stay idle before it is destroyed (never below the minimum). @defaultValue no eviction */
  idleTimeoutMs?: number;
  /** How often idle instances are checked for eviction. @defaultValue `min(idleTimeoutMs, 1000)` */
  evictionIntervalMs?: number;
  /**
   * Leak detection: a lease held longer than this emits `pool:lease-timeout` (once,
   * with the stack of the acquire). The lease is not taken back. @defaultValue off
   */
  leaseTimeoutMs?: number;
  /** Run `factory.validate` on a reused instance before lending it. @defaultValue `true` */
  validateOnBorrow?: boolean;
  /** Replaces the pool's choice of device for `device: 'auto'` requests. */
  selector?: DeviceSelector;
  /**
   * Place an `'auto'` request on the CPU when GPUs exist but none has the memory for it
   * (or none is healthy, or their factory keeps failing). On a machine without GPUs the CPU
   * is used regardless. @defaultValue `true`
   */
  cpuFallback?: boolean;
  /**
   * Delay after a failed create before that device is tried again; doubles with every
   * consecutive failure, up to 30 s (or this value when larger). @defaultValue `500`
   */
  createRetryDelayMs?: number;
  /**
   * After this many consecutive create failures on a device, requests that only that
   * device could serve fail with `PoolExhaustedError` (the last factory error as `cause`)
   * instead of waiting, until its retry delay has passed and a create succeeds again.
   * @defaultValue `3`
   */
  maxCreateFailures?: number;
  /**
   * A `factory.create` that has not settled by then counts as failed (its `signal` aborts; an
   * instance that still arrives later is destroyed). @defaultValue `60000`
   */
  createTimeoutMs?: number;
  /** A `factory.validate` that has not settled by then counts as invalid. @defaultValue `5000` */
  validateTimeoutMs?: number;
  /**
   * A `factory.destroy` that has not settled by then is given up on: its memory and slot are
   * freed, `pool:destroy` carries a timeout error, and drain/close go on. @defaultValue `30000`
   */
  destroyTimeoutMs?: number;
}

/** What an acquire asks for. Unknown keys are rejected. */
export interface AcquireOptions {
  /** `'auto'` lets the pool (or `selector`) choose; an id asks for that device only. @defaultValue `'auto'` */
  device?: 'auto' | (string & {});
  /** Memory (MiB) the borrower's work needs on the device, reserved for as long as the lease is held. @defaultValue `0` */
  memoryMb?: number;
  /** Aborting it gives up waiting: the acquire rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Overrides the pool's `acquireTimeoutMs` for this request. */
  timeoutMs?: number;
}

/** A device as a {@link DeviceSelector} sees it, for one request. */
export interface DeviceCandidate {
  /** The device (a snapshot; do not modify). */
  device: DeviceInfo;
  /** Instances on the device (idle and in use). */
  size: number;
  /** Instances lent out (or being validated for a lease). */
  inUse: number;
  /** Instances ready to lend. */
  idle: number;
  /** Instances being created. */
  pendingCreates: number;
  /** Minimum instances on the device. */
  min: number;
  /** Maximum instances on the device. */
  max: number;
  /** Memory (MiB) the pool reserves on the device: instances plus leases. */
  reservedMemoryMb: number;
  /** Free memory at the last probe, corrected for what the pool reserved since (MiB). */
  availableMemoryMb: number;
  /** `inUse / max`. */
  load: number;
  /** The request's memory fits now (free memory and budget). */
  fits: boolean;
  /** The request could be served now: an idle instance, one being created, or room to create one. */
  ready: boolean;
}

/**
 * Chooses the device of an `'auto'` request. It receives the eligible devices (healthy,
 * enabled, large enough; the CPU only where fallback applies), best first by the default
 * ranking, and returns a device id, or `undefined` to let the pool choose. A chosen
 * device that cannot serve now makes the request wait for it. Called again whenever the
 * pool's state changes while the request waits, so keep it fast and free of side effects.
 */
export type DeviceSelector = (candidates: DeviceCandidate[], request: AcquireOptions) => string | undefined;

/** A service lent by a {@link ServicePool}. Release it exactly once. */
export interface ServiceLease<T> {
  /** The lent service. */
  readonly service: T;
  /** Id of the device the service lives on. */
  readonly device: string;
  /** Id of the pooled instance (stable for the instance's life). */
  readonly instanceId: string;
  /** Memory (MiB) this lease reserves on its device (the acquire's `memoryMb`). */
  readonly memoryMb: number;
  /** Returns the service to the pool. A second release or destroy rejects with `InvalidReleaseError`. */
  release(): Promise<void>;
  /** Destroys the service instead of returning it (it is broken); resolves once destroyed. */
  destroy(): Promise<void>;
  /** Releases the lease unless already released or destroyed (`await using lease = ...`). */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of `pool.close()` and `pool.drain()`. Unknown keys are rejected. */
export interface PoolCloseOptions {
  /**
   * How long to wait for leases to come back. When it passes first, the call rejects with
   * `PoolClosedError` naming every lease still out (instance, device, how long held, and
   * where it was acquired when `leaseTimeoutMs` is set); the pool stays closed to new
   * acquires and destroys those instances when their leases end. @defaultValue wait for ever
   */
  timeoutMs?: number;
}

/** Life cycle of a pool. */
export type PoolState = 'new' | 'running' | 'draining' | 'drained' | 'closed';

/** Figures of one device in {@link PoolStats}. */
export interface DeviceStats {
  /** Device id. */
  device: string;
  /** Device kind. */
  kind: DeviceKind;
  /** Whether the device was healthy at the last probe. */
  healthy: boolean;
  /** Whether the pool may use the device. */
  enabled: boolean;
  /** Minimum instances. */
  min: number;
  /** Maximum instances. */
  max: number;
  /** Instances (idle and in use). */
  size: number;
  /** Instances lent out (or being validated for a lease). */
  inUse: number;
  /** Instances ready to lend. */
  idle: number;
  /** Requests waiting for this device (explicit ones, and `'auto'` ones currently aimed at it). */
  waiting: number;
  /** Instances being created. */
  pendingCreates: number;
  /** Memory (MiB) the pool reserves on the device: instances (also those being created or destroyed) plus leases. */
  reservedMemoryMb: number;
  /** The device's `memoryBudgetMb`, when it has one. */
  memoryBudgetMb?: number;
  /** Total memory of the device (MiB). */
  totalMemoryMb: number;
  /** Free memory at the last probe (MiB). */
  freeMemoryMb: number;
  /** Free memory at the last probe, corrected for what the pool reserved since (MiB). */
  availableMemoryMb: number;
  /** `inUse / max` (0 when `max` is 0). */
  utilization: number;
  /** Create failures in a row (0 after a success). */
  consecutiveCreateFailures: number;
}

/** Sums over all devices. */
export interface PoolTotals {
  /** Instances. */
  size: number;
  /** Instances lent out. */
  inUse: number;
  /** Instances ready to lend. */
  idle: number;
  /** Every waiting request. */
  waiting: number;
  /** Instances being created. */
  pendingCreates: number;
  /** Memory (MiB) reserved by the pool. */
  reservedMemoryMb: number;
  /** Total memory of the enabled devices (MiB). */
  totalMemoryMb: number;
  /** Free memory of the enabled devices at the last probe (MiB). */
  freeMemoryMb: number;
  /** In-use instances over the sum of maxima of enabled, healthy devices. */
  utilization: number;
}

/** A snapshot of a pool, from {@link ServicePool.stats}. */
export interface PoolStats {
  /** The pool's name. */
  name: string;
  /** The pool's life-cycle state. */
  state: PoolState;
  /** Figures per device id. */
  devices: Record<string, DeviceStats>;
  /** Sums over all devices. */
  totals: PoolTotals;
}

/** Why an instance was destroyed. */
export type DestroyReason = 'idle' | 'invalid' | 'lease' | 'drain' | 'device-unavailable';

/** Events of a {@link ServicePool}; one object payload each. */
export interface ServicePoolEvents {
  /** An instance was created. */
  'pool:create': { pool: string; device: string; instanceId: string; durationMs: number };
  /** An instance was destroyed; `error` is what `factory.destroy` threw, if anything. */
  'pool:destroy': { pool: string; device: string; instanceId: string; reason: DestroyReason; error?: unknown };
  /** A service was lent. */
  'pool:acquire': { pool: string; device: string; instanceId: string; memoryMb: number; waitedMs: number };
  /** A lease ended (`destroyed` when through `lease.destroy()`). */
  'pool:release': { pool: string; device: string; instanceId: string; heldMs: number; destroyed: boolean };
  /** `factory.create` failed; the device is tried again after `retryInMs`. */
  'pool:create-error': { pool: string; device: string; instanceId: string; error: unknown; consecutiveFailures: number; retryInMs: number };
  /** A lease has been held longer than `leaseTimeoutMs` (probably leaked); `acquireStack` shows where it was taken. */
  'pool:lease-timeout': { pool: string; device: string; instanceId: string; heldMs: number; leaseTimeoutMs: number; acquireStack?: string };
  /** An idle instance is being evicted (followed by `pool:destroy` with reason `'idle'`). */
  'pool:evict': { pool: string; device: string; instanceId: string; idleMs: number };
}

/** Name of a {@link ServicePoolEvents} event. */
export type ServicePoolEventName = keyof ServicePoolEvents;

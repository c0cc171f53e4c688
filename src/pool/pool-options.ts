import { InvalidArgumentError } from '../core/errors';
import type { DeviceInfo, DeviceProbe } from './device';
import type { AcquireOptions, DeviceLimits, DeviceSelector, PoolCloseOptions, ServiceFactory, ServicePoolOptions } from './types';

/** Defaults of {@link ServicePoolOptions}, in one place. */
export const SERVICE_POOL_DEFAULTS = Object.freeze({
  name: 'service-pool',
  minPerDevice: 0,
  maxPerDevice: 1,
  acquireTimeoutMs: 30_000,
  validateOnBorrow: true,
  cpuFallback: true,
  createRetryDelayMs: 500,
  maxCreateFailures: 3,
  createTimeoutMs: 60_000,
  validateTimeoutMs: 5_000,
  destroyTimeoutMs: 30_000,
  /** Upper bound of the create back-off (unless `createRetryDelayMs` is larger). */
  maxCreateRetryDelayMs: 30_000,
  /** Upper bound of the default eviction interval. */
  maxEvictionIntervalMs: 1_000,
});

/** Longest delay `setTimeout` honours (larger values fire at once). */
export const MAX_TIMER_MS = 2_147_483_647;

/** Options after validation and defaults. */
export interface ResolvedPoolOptions<T> {
  name: string;
  factory: ServiceFactory<T>;
  devices: DeviceInfo[] | DeviceProbe | undefined;
  minPerDevice: number;
  maxPerDevice: number;
  perDevice: Record<string, DeviceLimits>;
  acquireTimeoutMs: number;
  idleTimeoutMs: number | undefined;
  evictionIntervalMs: number | undefined;
  leaseTimeoutMs: number | undefined;
  validateOnBorrow: boolean;
  selector: DeviceSelector | undefined;
  cpuFallback: boolean;
  createRetryDelayMs: number;
  maxCreateFailures: number;
  createTimeoutMs: number;
  validateTimeoutMs: number;
  destroyTimeoutMs: number;
}

/** A request after validation. */
export interface ResolvedAcquire {
  device: string;
  memoryMb: number;
  signal: AbortSignal | undefined;
  timeoutMs: number;
  original: AcquireOptions;
}

const POOL_KEYS: ReadonlySet<string> = new Set<keyof ServicePoolOptions<unknown>>([
  'name', 'factory', 'devices', 'minPerDevice', 'maxPerDevice', 'perDevice', 'acquireTimeoutMs', 'idleTimeoutMs',
  'evictionIntervalMs', 'leaseTimeoutMs', 'validateOnBorrow', 'selector', 'cpuFallback', 'createRetryDelayMs',
  'maxCreateFailures', 'createTimeoutMs', 'validateTimeoutMs', 'destroyTimeoutMs',
]);
const LIMIT_KEYS: ReadonlySet<string> = new Set<keyof DeviceLimits>(['min', 'max', 'memoryBudgetMb', 'enabled']);
const ACQUIRE_KEYS: ReadonlySet<string> = new Set<keyof AcquireOptions>(['device', 'memoryMb', 'signal', 'timeoutMs']);
const CLOSE_KEYS: ReadonlySet<string> = new Set<keyof PoolCloseOptions>(['timeoutMs']);

/** Validates pool options (rejecting unknown keys) and applies the defaults. */
export function resolvePoolOptions<T>(options: ServicePoolOptions<T>): ResolvedPoolOptions<T> {
  if (!isPlainObject(options)) throw new InvalidArgumentError('ServicePool options must be an object');
  rejectUnknownKeys(options, POOL_KEYS, (key) => `ServicePool option "${key}"`);

  const name = options.name ?? SERVICE_POOL_DEFAULTS.name;
  if (typeof name !== 'string' || name.length === 0) throw new InvalidArgumentError('ServicePool option "name" must be a non-empty string');
  const prefix = `ServicePool "${name}":`;

  const factory = options.factory;
  if (typeof factory !== 'object' || factory === null) throw new InvalidArgumentError(`${prefix} option "factory" is required`);
  if (typeof factory.create !== 'function') throw new InvalidArgumentError(`${prefix} "factory.create" must be a function`);
  for (const hook of ['destroy', 'validate'] as const) {
    if (factory[hook] !== undefined && typeof factory[hook] !== 'function') {
      throw new InvalidArgumentError(`${prefix} "factory.${hook}" must be a function`);
    }
  }
  if (factory.memoryMb !== undefined && typeof factory.memoryMb !== 'function') {
    checkNumber(factory.memoryMb, `${prefix} "factory.memoryMb"`, { min: 0 });
  }

  let devices = options.devices;
  if (Array.isArray(devices)) devices = validateDevices(devices, prefix);
  else if (devices !== undefined && typeof devices !== 'function') {
    throw new InvalidArgumentError(`${prefix} option "devices" must be an array of DeviceInfo or a probe function`);
  }

  const minPerDevice = options.minPerDevice ?? SERVICE_POOL_DEFAULTS.minPerDevice;
  const maxPerDevice = options.maxPerDevice ?? SERVICE_POOL_DEFAULTS.maxPerDevice;
  checkNumber(minPerDevice, `${prefix} option "minPerDevice"`, { min: 0, integer: true });
  checkNumber(maxPerDevice, `${prefix} option "maxPerDevice"`, { min: 0, integer: true });
  if (minPerDevice > maxPerDevice) {
    throw new InvalidArgumentError(`${prefix} option "minPerDevice" (${minPerDevice}) exceeds "maxPerDevice" (${maxPerDevice})`);
  }

  const perDevice: Record<string, DeviceLimits> = {};
  if (options.perDevice !== undefined) {
    if (!isPlainObject(options.perDevice)) throw new InvalidArgumentError(`${prefix} option "perDevice" must be an object keyed by device id`);
    for (const [id, limits] of Object.entries(options.perDevice)) {
      const where = `${prefix} "perDevice.${id}`;
      if (!isPlainObject(limits)) throw new InvalidArgumentError(`${where}" must be an object`);
      rejectUnknownKeys(limits, LIMIT_KEYS, (key) => `${where}.${key}"`);
      if (limits.min !== undefined) checkNumber(limits.min, `${where}.min"`, { min: 0, integer: true });
      if (limits.max !== undefined) checkNumber(limits.max, `${where}.max"`, { min: 0, integer: true });
      if (limits.memoryBudgetMb !== undefined) checkNumber(limits.memoryBudgetMb, `${where}.memoryBudgetMb"`, { min: 0 });
      if (limits.enabled !== undefined && typeof limits.enabled !== 'boolean') {
        throw new InvalidArgumentError(`${where}.enabled" must be a boolean`);
      }
      const min = limits.min ?? minPerDevice;
      const max = limits.max ?? maxPerDevice;
      if (min > max) throw new InvalidArgumentError(`${where}": min (${min}) exceeds max (${max})`);
      perDevice[id] = { ...limits };
    }
  }

  const acquireTimeoutMs = options.acquireTimeoutMs ?? SERVICE_POOL_DEFAULTS.acquireTimeoutMs;
  checkDuration(acquireTimeoutMs, `${prefix} option "acquireTimeoutMs"`, true);
  const idleTimeoutMs = options.idleTimeoutMs;
  if (idleTimeoutMs !== undefined) checkDuration(idleTimeoutMs, `${prefix} option "idleTimeoutMs"`, false);
  let evictionIntervalMs = options.evictionIntervalMs;
  if (evictionIntervalMs !== undefined) checkDuration(evictionIntervalMs, `${prefix} option "evictionIntervalMs"`, false);
  if (idleTimeoutMs !== undefined && evictionIntervalMs === undefined) {
    evictionIntervalMs = Math.max(1, Math.min(idleTimeoutMs, SERVICE_POOL_DEFAULTS.maxEvictionIntervalMs));
  }
  const leaseTimeoutMs = options.leaseTimeoutMs;
  if (leaseTimeoutMs !== undefined) checkDuration(leaseTimeoutMs, `${prefix} option "leaseTimeoutMs"`, false);

  const validateOnBorrow = options.validateOnBorrow ?? SERVICE_POOL_DEFAULTS.validateOnBorrow;
  const cpuFallback = options.cpuFallback ?? SERVICE_POOL_DEFAULTS.cpuFallback;
  for (const [key, value] of [['validateOnBorrow', validateOnBorrow], ['cpuFallback', cpuFallback]] as const) {
    if (typeof value !== 'boolean') throw new InvalidArgumentError(`${prefix} option "${key}" must be a boolean`);
  }
  if (options.selector !== undefined && typeof options.selector !== 'function') {
    throw new InvalidArgumentError(`${prefix} option "selector" must be a function`);
  }

  const createRetryDelayMs = options.createRetryDelayMs ?? SERVICE_POOL_DEFAULTS.createRetryDelayMs;
  checkDuration(createRetryDelayMs, `${prefix} option "createRetryDelayMs"`, false);
  const maxCreateFailures = options.maxCreateFailures ?? SERVICE_POOL_DEFAULTS.maxCreateFailures;
  checkNumber(maxCreateFailures, `${prefix} option "maxCreateFailures"`, { min: 1, integer: true });
  const factoryTimeouts = {} as Record<'createTimeoutMs' | 'validateTimeoutMs' | 'destroyTimeoutMs', number>;
  for (const key of ['createTimeoutMs', 'validateTimeoutMs', 'destroyTimeoutMs'] as const) {
    const value = options[key] ?? SERVICE_POOL_DEFAULTS[key];
    checkDuration(value, `${prefix} option "${key}"`, false);
    factoryTimeouts[key] = value;
  }

  return {
    name,
    factory,
    devices,
    minPerDevice,
    maxPerDevice,
    perDevice,
    acquireTimeoutMs,
    idleTimeoutMs,
    evictionIntervalMs,
    leaseTimeoutMs,
    validateOnBorrow,
    selector: options.selector,
    cpuFallback,
    createRetryDelayMs,
    maxCreateFailures,
    ...factoryTimeouts,
  };
}

/** Validates the options of one acquire. */
export function resolveAcquireOptions(options: AcquireOptions | undefined, defaultTimeoutMs: number, poolName: string): ResolvedAcquire {
  const original = options ?? {};
  const prefix = `ServicePool "${poolName}": acquire option`;
  if (!isPlainObject(original)) throw new InvalidArgumentError(`ServicePool "${poolName}": acquire options must be an object`);
  rejectUnknownKeys(original, ACQUIRE_KEYS, (key) => `${prefix} "${key}"`);
  const device = original.device ?? 'auto';
  if (typeof device !== 'string' || device.length === 0) throw new InvalidArgumentError(`${prefix} "device" must be 'auto' or a device id`);
  const memoryMb = original.memoryMb ?? 0;
  checkNumber(memoryMb, `${prefix} "memoryMb"`, { min: 0 });
  const timeoutMs = original.timeoutMs ?? defaultTimeoutMs;
  checkDuration(timeoutMs, `${prefix} "timeoutMs"`, true);
  const signal = original.signal;
  if (signal !== undefined && !(typeof signal === 'object' && signal !== null && typeof signal.addEventListener === 'function')) {
    throw new InvalidArgumentError(`${prefix} "signal" must be an AbortSignal`);
  }
  return { device, memoryMb, signal, timeoutMs, original };
}

/** Validates the options of `close()` / `drain()`; returns the timeout, if any. */
export function resolveCloseOptions(options: PoolCloseOptions | undefined, poolName: string): number | undefined {
  if (options === undefined) return undefined;
  const prefix = `ServicePool "${poolName}": close option`;
  if (!isPlainObject(options)) throw new InvalidArgumentError(`ServicePool "${poolName}": close options must be an object`);
  rejectUnknownKeys(options, CLOSE_KEYS, (key) => `${prefix} "${key}"`);
  if (options.timeoutMs !== undefined) checkDuration(options.timeoutMs, `${prefix} "timeoutMs"`, false);
  return options.timeoutMs;
}

/** Validates a list of devices (unique ids, sane numbers) and copies it. */
export function validateDevices(devices: unknown, prefix: string): DeviceInfo[] {
  if (!Array.isArray(devices)) throw new InvalidArgumentError(`${prefix} devices must be an array of DeviceInfo`);
  const seen = new Set<string>();
  return devices.map((device: DeviceInfo, position) => {
    const where = `${prefix} devices[${position}]`;
    if (!isPlainObject(device)) throw new InvalidArgumentError(`${where} must be an object`);
    if (typeof device.id !== 'string' || device.id.length === 0) throw new InvalidArgumentError(`${where}.id must be a non-empty string`);
    if (device.id === 'auto') throw new InvalidArgumentError(`${where}.id must not be 'auto'`);
    if (seen.has(device.id)) throw new InvalidArgumentError(`${where}.id "${device.id}" is listed twice`);
    seen.add(device.id);
    if (device.kind !== 'cpu' && device.kind !== 'cuda') throw new InvalidArgumentError(`${where}.kind must be 'cpu' or 'cuda'`);
    checkNumber(device.totalMemoryMb, `${where}.totalMemoryMb`, { min: 0 });
    checkNumber(device.freeMemoryMb, `${where}.freeMemoryMb`, { min: 0 });
    if (typeof device.healthy !== 'boolean') throw new InvalidArgumentError(`${where}.healthy must be a boolean`);
    return { ...device };
  });
}

function checkNumber(value: unknown, what: string, rule: { min: number; integer?: boolean }): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < rule.min || (rule.integer && !Number.isInteger(value))) {
    throw new InvalidArgumentError(`${what} must be ${rule.integer ? 'an integer' : 'a finite number'} >= ${rule.min} (got ${String(value)})`);
  }
}

function checkDuration(value: unknown, what: string, allowInfinity: boolean): void {
  if (allowInfinity && value === Infinity) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMER_MS) {
    throw new InvalidArgumentError(
      `${what} must be a number of milliseconds between 1 and ${MAX_TIMER_MS}${allowInfinity ? ' (or Infinity)' : ''} (got ${String(value)})`,
    );
  }
}

function rejectUnknownKeys(value: object, known: ReadonlySet<string>, describe: (key: string) => string): void {
  // for-in rather than Object.keys: an acquire's options are checked without allocating.
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (!known.has(key)) throw new InvalidArgumentError(`${describe(key)} is unknown (known: ${[...known].join(', ')})`);
  }
}

function isPlainObject(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

import { afterEach } from 'vitest';
import type { DeviceInfo, ServiceFactory, ServicePoolOptions } from '../../../src/pool';
import { ServicePool } from '../../../src/pool';

/** What the counting fake factory hands out. */
export interface FakeService {
  readonly serial: number;
  readonly device: string;
  destroyed: boolean;
}

export interface FakeFactoryOptions {
  /** Delay of every create. */
  createDelayMs?: number;
  /** Which creates fail (1-based attempt number), or all of them. */
  fail?: boolean | ((attempt: number) => boolean);
  /** Result of validate (per service); no validate hook when undefined. */
  validate?: (service: FakeService) => boolean | Promise<boolean>;
  memoryMb?: ServiceFactory<FakeService>['memoryMb'];
}

/** A factory that counts every call, so tests can assert on create/destroy/validate traffic. */
export function fakeFactory(options: FakeFactoryOptions = {}) {
  const counts = { create: 0, createFailed: 0, destroy: 0, validate: 0 };
  const created: FakeService[] = [];
  const signals: AbortSignal[] = [];
  const factory: ServiceFactory<FakeService> = {
    async create(device, ctx) {
      counts.create += 1;
      const attempt = counts.create;
      signals.push(ctx.signal);
      if (options.createDelayMs) await sleep(options.createDelayMs);
      const fail = typeof options.fail === 'function' ? options.fail(attempt) : options.fail === true;
      if (fail) {
        counts.createFailed += 1;
        throw new Error(`create #${attempt} failed`);
      }
      const service: FakeService = { serial: attempt, device: device.id, destroyed: false };
      created.push(service);
      return service;
    },
    destroy(service) {
      counts.destroy += 1;
      service.destroyed = true;
    },
  };
  if (options.validate) {
    const validate = options.validate;
    factory.validate = (service) => {
      counts.validate += 1;
      return validate(service);
    };
  }
  if (options.memoryMb !== undefined) factory.memoryMb = options.memoryMb;
  return { factory, counts, created, signals };
}

export function cpu(freeMemoryMb = 16_000): DeviceInfo {
  return { id: 'cpu', kind: 'cpu', name: 'Test CPU', totalMemoryMb: 32_000, freeMemoryMb, healthy: true };
}

export function gpu(index: number, freeMemoryMb: number, extra: Partial<DeviceInfo> = {}): DeviceInfo {
  return {
    id: `cuda:${index}`,
    kind: 'cuda',
    index,
    uuid: `GPU-${String(index).repeat(8)}-0000-0000-0000-000000000000`,
    name: 'Fake GPU',
    totalMemoryMb: 16_000,
    freeMemoryMb,
    healthy: true,
    ...extra,
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Pools made through this are closed after each test, whatever the test did. */
const open: ServicePool<FakeService>[] = [];
afterEach(async () => {
  // A test may leave leases out on purpose; close() would then wait for ever.
  await Promise.all(open.splice(0).map((pool) => Promise.race([pool.close(), sleep(200)])));
});

export function makePool(options: ServicePoolOptions<FakeService>): ServicePool<FakeService> {
  const pool = new ServicePool(options);
  open.push(pool);
  return pool;
}

/** Settles a promise into a value to assert on, with how long it took. */
export async function outcome<T>(promise: Promise<T>): Promise<{ ok: true; value: T; ms: number } | { ok: false; error: any; ms: number }> {
  const started = performance.now();
  try {
    const value = await promise;
    return { ok: true, value, ms: performance.now() - started };
  } catch (error) {
    return { ok: false, error, ms: performance.now() - started };
  }
}

import { describe, expect, it } from 'vitest';
import {
  DeviceUnavailableError,
  InvalidArgumentError,
  InvalidReleaseError,
  PoolClosedError,
  isUpkeepError,
} from '../../../src/core/errors';
import type { DeviceInfo, ServicePoolEvents } from '../../../src/pool';
import { ServicePool } from '../../../src/pool';
import { cpu, fakeFactory, gpu, makePool, outcome, sleep, type FakeService } from './fakes';

describe('ServicePool start and idle eviction', () => {
  it('start() creates the minimum on every device', async () => {
    const { factory, counts, created } = fakeFactory();
    const pool = makePool({
      factory,
      devices: [cpu(), gpu(0, 8000)],
      minPerDevice: 2,
      maxPerDevice: 3,
      perDevice: { cpu: { min: 0 } },
    });
    await pool.start();
    expect(counts.create).toBe(2);
    expect(created.map((service) => service.device)).toEqual(['cuda:0', 'cuda:0']);
    expect(pool.stats().devices['cuda:0']).toMatchObject({ size: 2, idle: 2, min: 2 });
    expect(pool.stats().devices.cpu).toMatchObject({ size: 0, min: 0 });
  });

  it('evicts instances idle past idleTimeoutMs but keeps the minimum and leased ones', async () => {
    const { factory, counts } = fakeFactory();
    const pool = makePool({
      factory,
      devices: [cpu()],
      minPerDevice: 1,
      maxPerDevice: 4,
      idleTimeoutMs: 40,
      evictionIntervalMs: 10,
    });
    const evicted: ServicePoolEvents['pool:evict'][] = [];
    const destroyed: ServicePoolEvents['pool:destroy'][] = [];
    pool.on('pool:evict', (event) => evicted.push(event)).on('pool:destroy', (event) => destroyed.push(event));
    const leases = await Promise.all([1, 2, 3, 4].map(() => pool.acquire()));
    expect(pool.stats().devices.cpu!.size).toBe(4);
    const kept = leases.pop()!;
    for (const lease of leases) await lease.release();
    await sleep(150);

    // Three idle ones and one leased, minimum one: the leased one satisfies the minimum, so all idle ones go.
    expect(evicted).toHaveLength(3);
    expect(evicted.every((event) => event.idleMs >= 40)).toBe(true);
    expect(destroyed.map((event) => event.reason)).toEqual(['idle', 'idle', 'idle']);
    expect(pool.stats().devices.cpu).toMatchObject({ size: 1, inUse: 1, idle: 0 });

    await kept.release();
    await sleep(150);
    expect(pool.stats().devices.cpu).toMatchObject({ size: 1, inUse: 0, idle: 1 });
    expect(counts.destroy).toBe(3);
  });
});

describe('ServicePool drain and close', () => {
  it('drain() stops lending, waits for leases, destroys everything, and the pool can be used again', async () => {
    const { factory, counts } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu(16_000)], maxPerDevice: 2 });
    const held = await pool.acquire({ memoryMb: 1000 });
    const idle = await pool.acquire();
    await idle.release();
    // Needs the whole CPU memory while `held` reserves some: waits although an instance is idle.
    const waiting = outcome(pool.acquire({ memoryMb: 16_000 }));
    await sleep(5);

    let drained = false;
    const draining = pool.drain().then(() => (drained = true));
    const duringDrain = await outcome(pool.acquire());
    expect(duringDrain.ok || duringDrain.error).toBeInstanceOf(PoolClosedError);
    expect(duringDrain.ok || duringDrain.error.code).toBe('POOL_CLOSED');
    const waited = await waiting;
    expect(waited.ok || waited.error).toBeInstanceOf(PoolClosedError);
    await sleep(20);
    expect(drained).toBe(false);
    expect(pool.stats()).toMatchObject({ state: 'draining', totals: { size: 1, inUse: 1 } });

    await held.release();
    await draining;
    expect(counts.destroy).toBe(counts.create);
    expect(pool.stats()).toMatchObject({ state: 'drained', totals: { size: 0, inUse: 0, idle: 0 } });

    const again = await pool.acquire();
    expect(pool.stats().state).toBe('running');
    await again.release();
  });

  it('aborts creates in flight on drain and destroys what they return', async () => {
    const { factory, counts, signals, created } = fakeFactory({ createDelayMs: 60 });
    const pool = makePool({ factory, devices: [cpu()] });
    const pending = outcome(pool.acquire());
    await sleep(10);
    await pool.drain();
    expect(signals[0]!.aborted).toBe(true);
    expect((await pending).ok).toBe(false);
    expect(counts.create).toBe(1);
    expect(created[0]!.destroyed).toBe(true);
    expect(pool.stats().totals).toMatchObject({ size: 0, pendingCreates: 0 });
  });

  it('close() rejects every later acquire with PoolClosedError and is idempotent', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()] });
    const lease = await pool.acquire();
    const closing = pool.close();
    await lease.release();
    await closing;
    await pool.close();
    expect(pool.stats().state).toBe('closed');
    for (const attempt of [pool.acquire(), pool.start(), pool.refreshDevices()] as Promise<unknown>[]) {
      const result = await outcome(attempt);
      expect(result.ok || result.error).toBeInstanceOf(PoolClosedError);
    }
  });

  it('close() before start settles at once', async () => {
    const { factory, counts } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()], minPerDevice: 1 });
    await pool.close();
    expect(counts.create).toBe(0);
    expect(pool.stats().state).toBe('closed');
  });
});

describe('ServicePool release', () => {
  it('throws InvalidReleaseError on a second release or destroy and keeps the counts right', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()], maxPerDevice: 2 });
    const lease = await pool.acquire();
    await lease.release();
    const twice = await outcome(lease.release());
    expect(twice.ok || twice.error).toBeInstanceOf(InvalidReleaseError);
    expect(twice.ok || twice.error.code).toBe('POOL_INVALID_RELEASE');
    expect(twice.ok || isUpkeepError(twice.error)).toBe(true);
    const destroyAfter = await outcome(lease.destroy());
    expect(destroyAfter.ok || destroyAfter.error).toBeInstanceOf(InvalidReleaseError);
    expect(pool.stats().devices.cpu).toMatchObject({ size: 1, inUse: 0, idle: 1 });

    // The instance was lent again: the stale lease must not end the new one.
    const next = await pool.acquire();
    expect(next.instanceId).toBe(lease.instanceId);
    expect((await outcome(lease.release())).ok).toBe(false);
    expect(pool.stats().devices.cpu).toMatchObject({ inUse: 1, idle: 0 });
    await next.destroy();
    expect((await outcome(next.release())).ok).toBe(false);
    expect(pool.stats().devices.cpu).toMatchObject({ size: 0, inUse: 0, idle: 0 });
    await lease[Symbol.asyncDispose](); // no-op on an ended lease
  });

  it('pool.release(service) returns a lent service and refuses one it does not lend', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()] });
    const lease = await pool.acquire();
    await pool.release(lease.service);
    expect(pool.stats().devices.cpu).toMatchObject({ inUse: 0, idle: 1 });
    const again = await outcome(pool.release(lease.service));
    expect(again.ok || again.error).toBeInstanceOf(InvalidReleaseError);
    const stranger = await outcome(pool.release({ serial: 99, device: 'cpu', destroyed: false }));
    expect(stranger.ok || stranger.error).toBeInstanceOf(InvalidReleaseError);
    expect(pool.stats().devices.cpu).toMatchObject({ size: 1, inUse: 0, idle: 1 });
  });

  it('lease.destroy() destroys the instance and a later request gets a new one', async () => {
    const { factory, counts, created } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()] });
    const lease = await pool.acquire();
    await lease.destroy();
    expect(created[0]!.destroyed).toBe(true);
    const next = await pool.acquire();
    expect(next.instanceId).not.toBe(lease.instanceId);
    expect(counts.create).toBe(2);
    await next[Symbol.asyncDispose]();
    expect(pool.stats().devices.cpu).toMatchObject({ inUse: 0, idle: 1 });
  });

  it('use() releases however the function ends', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()] });
    const value = await pool.use({ device: 'cpu' }, async (service, lease) => `${service.serial}@${lease.device}`);
    expect(value).toBe('1@cpu');
    const failed = await outcome(
      pool.use(() => {
        throw new Error('processing failed');
      }),
    );
    expect(failed.ok || failed.error.message).toBe('processing failed');
    await pool.use(async (_service, lease) => lease.destroy());
    expect(pool.stats().devices.cpu).toMatchObject({ inUse: 0, size: 0 });
  });
});

describe('ServicePool leak detection', () => {
  it('emits pool:lease-timeout once for a lease held too long, without taking it back', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()], leaseTimeoutMs: 30 });
    const timeouts: ServicePoolEvents['pool:lease-timeout'][] = [];
    pool.on('pool:lease-timeout', (event) => timeouts.push(event));
    const quick = await pool.acquire();
    await quick.release();
    const leaked = await pool.acquire();
    await sleep(100);
    expect(timeouts).toHaveLength(1);
    expect(timeouts[0]).toMatchObject({ pool: 'service-pool', device: 'cpu', instanceId: leaked.instanceId, leaseTimeoutMs: 30 });
    expect(timeouts[0]!.heldMs).toBeGreaterThanOrEqual(29);
    expect(timeouts[0]!.acquireStack).toMatch(/service-pool-lifecycle\.test\.ts/);
    expect(pool.stats().devices.cpu!.inUse).toBe(1);
    await leaked.release();
    expect(pool.stats().devices.cpu!.inUse).toBe(0);
  });
});

describe('ServicePool devices', () => {
  it('probes devices on first use and refreshDevices() takes a device that turned unhealthy out', async () => {
    let healthy = true;
    let probes = 0;
    const probe = async (): Promise<DeviceInfo[]> => {
      probes += 1;
      return [cpu(), gpu(0, 8000, { healthy })];
    };
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: probe });
    const destroyed: ServicePoolEvents['pool:destroy'][] = [];
    pool.on('pool:destroy', (event) => destroyed.push(event));
    expect(pool.devices()).toEqual([]);
    const lease = await pool.acquire({ device: 'cuda:0' });
    await lease.release();
    expect(probes).toBe(1);

    healthy = false;
    await pool.refreshDevices();
    expect(probes).toBe(2);
    await sleep(0);
    expect(destroyed.map((event) => event.reason)).toEqual(['device-unavailable']);
    const refused = await outcome(pool.acquire({ device: 'cuda:0' }));
    expect(refused.ok || refused.error).toBeInstanceOf(DeviceUnavailableError);
    const auto = await pool.acquire();
    expect(auto.device).toBe('cpu');
    await auto.release();
  });

  it('does not lend an instance whose device turned unhealthy while it was being validated', async () => {
    let healthy = true;
    const { factory } = fakeFactory({ validate: () => sleep(40).then(() => true) });
    const pool = makePool({ factory, devices: async () => [cpu(), gpu(0, 8000, { healthy })] });
    const destroyed: ServicePoolEvents['pool:destroy'][] = [];
    pool.on('pool:destroy', (event) => destroyed.push(event));
    const first = await pool.acquire();
    expect(first.device).toBe('cuda:0');
    await first.release();
    const second = pool.acquire({ timeoutMs: 1000 });
    await sleep(5); // validation of the cuda:0 instance is under way
    healthy = false;
    await pool.refreshDevices();
    const lease = await second;
    expect(lease.device).toBe('cpu');
    expect(destroyed.map((event) => [event.device, event.reason])).toEqual([['cuda:0', 'device-unavailable']]);
    await lease.release();
  });

  it('counts free memory measured after a refresh once, not twice', async () => {
    let free = 8000;
    const { factory } = fakeFactory({ memoryMb: 3000 });
    const pool = makePool({ factory, devices: async () => [cpu(), gpu(0, free)], minPerDevice: 1, perDevice: { cpu: { min: 0 } } });
    await pool.start();
    expect(pool.stats().devices['cuda:0']!.availableMemoryMb).toBe(5000);
    free = 5000; // what the driver now reports, with our instance loaded
    await pool.refreshDevices();
    expect(pool.stats().devices['cuda:0']!.availableMemoryMb).toBe(5000);
  });

  it('rejects the acquire with DeviceUnavailableError when the probe fails, and retries the probe later', async () => {
    let fail = true;
    const { factory } = fakeFactory();
    const pool = makePool({
      factory,
      devices: async () => {
        if (fail) throw new Error('driver crashed');
        return [cpu()];
      },
    });
    const first = await outcome(pool.acquire());
    expect(first.ok || first.error).toBeInstanceOf(DeviceUnavailableError);
    expect(first.ok || first.error.cause.message).toBe('driver crashed');
    fail = false;
    const lease = await pool.acquire();
    expect(lease.device).toBe('cpu');
    await lease.release();
  });
});

describe('ServicePool options', () => {
  const { factory } = fakeFactory();

  it('rejects unknown and out-of-range options, naming them', () => {
    expect(() => new ServicePool({ factory, acquireTimeout: 5 } as never)).toThrow(/"acquireTimeout" is unknown/);
    expect(() => new ServicePool({ factory, minPerDevice: 3, maxPerDevice: 2 })).toThrow(InvalidArgumentError);
    expect(() => new ServicePool({ factory, perDevice: { 'cuda:0': { max: -1 } } })).toThrow(/perDevice\.cuda:0\.max/);
    expect(() => new ServicePool({ factory, perDevice: { cpu: { maximum: 2 } } } as never)).toThrow(/perDevice\.cpu\.maximum" is unknown/);
    expect(() => new ServicePool({ factory, acquireTimeoutMs: 0 })).toThrow(/acquireTimeoutMs/);
    expect(() => new ServicePool({ factory, createRetryDelayMs: 0 })).toThrow(/createRetryDelayMs/);
    expect(() => new ServicePool({ factory: {} as never })).toThrow(/factory\.create/);
    expect(() => new ServicePool({ factory, devices: [cpu(), cpu()] })).toThrow(/listed twice/);
    expect(() => new ServicePool({ factory, acquireTimeoutMs: Infinity })).not.toThrow();
  });

  it('rejects bad acquire options', async () => {
    const pool = makePool({ factory, devices: [cpu()] });
    for (const options of [{ memoryMb: -1 }, { timeoutMs: Number.NaN }, { devices: 'cpu' }, { device: '' }]) {
      const result = await outcome(pool.acquire(options as never));
      expect(result.ok || result.error).toBeInstanceOf(InvalidArgumentError);
    }
  });

  it('types the service through the factory', async () => {
    const pool = makePool({ factory, devices: [cpu()] });
    const service: FakeService = await pool.use((s) => s);
    expect(service.device).toBe('cpu');
  });
});

import { describe, expect, it } from 'vitest';
import { DeviceUnavailableError, InvalidArgumentError, PoolExhaustedError } from '../../../src/core/errors';
import type { DeviceCandidate, ServiceLease } from '../../../src/pool';
import { cpu, fakeFactory, gpu, makePool, outcome, sleep, type FakeService } from './fakes';

describe('ServicePool limits per device', () => {
  it('never lends more than max on a device; the extra request gets the released instance', async () => {
    const { factory, counts } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()], maxPerDevice: 2 });
    const first = await pool.acquire();
    const second = await pool.acquire();
    let third: ServiceLease<FakeService> | undefined;
    const pending = pool.acquire().then((lease) => (third = lease));
    await sleep(30);

    expect(third).toBeUndefined();
    expect(counts.create).toBe(2);
    expect(pool.stats().devices.cpu).toMatchObject({ size: 2, inUse: 2, idle: 0, waiting: 1, max: 2 });

    await second.release();
    await pending;
    expect(third!.instanceId).toBe(second.instanceId);
    expect(counts.create).toBe(2);
    await first.release();
    await third!.release();
    expect(pool.stats().devices.cpu).toMatchObject({ size: 2, inUse: 0, idle: 2, waiting: 0 });
  });

  it('applies perDevice max and enabled over the pool-wide limits', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({
      factory,
      devices: [cpu(), gpu(0, 8000), gpu(1, 8000)],
      maxPerDevice: 1,
      perDevice: { 'cuda:0': { max: 3 }, 'cuda:1': { enabled: false } },
    });
    const leases = await Promise.all([1, 2, 3].map(() => pool.acquire({ device: 'cuda:0' })));
    expect(leases.map((lease) => lease.device)).toEqual(['cuda:0', 'cuda:0', 'cuda:0']);
    expect(new Set(leases.map((lease) => lease.instanceId)).size).toBe(3);

    const disabled = await outcome(pool.acquire({ device: 'cuda:1' }));
    expect(disabled.ok).toBe(false);
    expect(disabled.ok || disabled.error).toBeInstanceOf(DeviceUnavailableError);
    expect(disabled.ok || disabled.error.code).toBe('DEVICE_UNAVAILABLE');

    const stats = pool.stats();
    expect(stats.devices['cuda:0']).toMatchObject({ max: 3, inUse: 3 });
    expect(stats.devices['cuda:1']).toMatchObject({ enabled: false, size: 0 });
    for (const lease of leases) await lease.release();
  });

  it('rejects an unknown or unhealthy explicit device with DeviceUnavailableError', async () => {
    const { factory, counts } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu(), gpu(0, 8000, { healthy: false })] });
    const unknown = await outcome(pool.acquire({ device: 'cuda:7' }));
    const unhealthy = await outcome(pool.acquire({ device: 'cuda:0' }));
    expect(unknown.ok || unknown.error).toBeInstanceOf(DeviceUnavailableError);
    expect(unknown.ok || unknown.error.message).toMatch(/cuda:7.*unknown/);
    expect(unhealthy.ok || unhealthy.error).toBeInstanceOf(DeviceUnavailableError);
    expect(unhealthy.ok || unhealthy.error.message).toMatch(/unhealthy/);
    expect(counts.create).toBe(0);
  });

  it('keeps the memory reserved on a device within its memoryBudgetMb', async () => {
    const { factory } = fakeFactory({ memoryMb: 1000 });
    const pool = makePool({
      factory,
      devices: [cpu(), gpu(0, 10_000)],
      maxPerDevice: 4,
      perDevice: { 'cuda:0': { memoryBudgetMb: 5000 } },
    });
    let highest = 0;
    const sample = () => {
      highest = Math.max(highest, pool.stats().devices['cuda:0']!.reservedMemoryMb);
    };
    pool.on('pool:create', sample).on('pool:acquire', sample);

    const a = await pool.acquire({ device: 'cuda:0', memoryMb: 1500 });
    const b = await pool.acquire({ device: 'cuda:0', memoryMb: 1500 });
    // 2 instances x 1000 + 2 leases x 1500 = 5000: a third needs 2500 more, so it waits.
    const c = pool.acquire({ device: 'cuda:0', memoryMb: 1500, timeoutMs: 2000 });
    await sleep(30);
    expect(pool.stats().devices['cuda:0']).toMatchObject({ size: 2, reservedMemoryMb: 5000, waiting: 1, memoryBudgetMb: 5000 });
    await a.release();
    const third = await c;
    expect(third.instanceId).toBe(a.instanceId);
    expect(highest).toBeLessThanOrEqual(5000);
    await b.release();
    await third.release();
    expect(pool.stats().devices['cuda:0']!.reservedMemoryMb).toBe(2000);
  });

  it('rejects at once a request that no device could ever hold', async () => {
    const { factory, counts } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu(16_000), gpu(0, 8000)] });
    const result = await outcome(pool.acquire({ memoryMb: 20_000 }));
    expect(result.ok).toBe(false);
    expect(result.ok || result.error).toBeInstanceOf(PoolExhaustedError);
    expect(result.ms).toBeLessThan(200);
    expect(counts.create).toBe(0);
  });
});

describe("ServicePool 'auto' placement", () => {
  it('places by free memory minus what leases reserve, then falls back to the CPU', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({
      factory,
      devices: [cpu(), gpu(0, 1000), gpu(1, 4000), gpu(2, 2000), gpu(3, 8000)],
      maxPerDevice: 2,
    });
    const placed: string[] = [];
    const leases: ServiceLease<FakeService>[] = [];
    for (let i = 0; i < 4; i += 1) {
      const lease = await pool.acquire({ memoryMb: 3000 });
      placed.push(lease.device);
      leases.push(lease);
    }
    // 8000 -> 5000 left on cuda:3, still the most; then 2000 < 4000 on cuda:1; then nothing fits 3000.
    expect(placed).toEqual(['cuda:3', 'cuda:3', 'cuda:1', 'cpu']);
    const stats = pool.stats();
    expect(stats.devices['cuda:3']).toMatchObject({ reservedMemoryMb: 6000, availableMemoryMb: 2000, inUse: 2 });
    expect(stats.totals.reservedMemoryMb).toBe(12_000);
    for (const lease of leases) await lease.release();
    expect(pool.stats().totals.reservedMemoryMb).toBe(0);
  });

  it('spreads a burst over equal GPUs by load, counting instances being created', async () => {
    const { factory } = fakeFactory({ createDelayMs: 20 });
    const pool = makePool({ factory, devices: [cpu(), gpu(0, 8000), gpu(1, 8000), gpu(2, 8000), gpu(3, 8000)], maxPerDevice: 2 });
    const leases = await Promise.all([1, 2, 3, 4].map(() => pool.acquire()));
    expect(leases.map((lease) => lease.device).sort()).toEqual(['cuda:0', 'cuda:1', 'cuda:2', 'cuda:3']);
    expect(pool.utilization()).toEqual({ cpu: 0, 'cuda:0': 0.5, 'cuda:1': 0.5, 'cuda:2': 0.5, 'cuda:3': 0.5 });
    for (const lease of leases) await lease.release();
  });

  it('waits for a busy GPU that has the memory instead of falling back to the CPU', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu(), gpu(0, 8000)], maxPerDevice: 1 });
    const held = await pool.acquire();
    const waiting = pool.acquire({ timeoutMs: 1000 });
    await sleep(20);
    expect(pool.stats().devices['cuda:0']!.waiting).toBe(1);
    expect(pool.stats().devices.cpu!.size).toBe(0);
    await held.release();
    const lease = await waiting;
    expect(lease.device).toBe('cuda:0');
    await lease.release();
  });

  it('falls back to the CPU when no GPU has the memory, unless cpuFallback is off', async () => {
    const { factory } = fakeFactory();
    const withFallback = makePool({ factory, devices: [cpu(), gpu(0, 2000), gpu(1, 2500)] });
    const lease = await withFallback.acquire({ memoryMb: 3000 });
    expect(lease.device).toBe('cpu');
    await lease.release();

    const strict = makePool({ factory, devices: [cpu(), gpu(0, 2000), gpu(1, 2500)], cpuFallback: false });
    const refused = await outcome(strict.acquire({ memoryMb: 3000 }));
    expect(refused.ok || refused.error).toBeInstanceOf(PoolExhaustedError);
    const small = await strict.acquire({ memoryMb: 1000 });
    expect(small.device).toBe('cuda:1');
    await small.release();
  });

  it('uses the CPU when every GPU is unhealthy, and on a machine without GPUs even with cpuFallback off', async () => {
    const { factory } = fakeFactory();
    const sick = makePool({ factory, devices: [cpu(), gpu(0, 8000, { healthy: false })] });
    const lease = await sick.acquire();
    expect(lease.device).toBe('cpu');
    await lease.release();

    const sickStrict = makePool({ factory, devices: [cpu(), gpu(0, 8000, { healthy: false })], cpuFallback: false });
    const refused = await outcome(sickStrict.acquire());
    expect(refused.ok || refused.error).toBeInstanceOf(DeviceUnavailableError);

    const cpuOnly = makePool({ factory, devices: [cpu()], cpuFallback: false });
    const onCpu = await cpuOnly.acquire();
    expect(onCpu.device).toBe('cpu');
    await onCpu.release();
  });

  it('falls back to the CPU when the factory keeps failing on the GPU', async () => {
    const { factory, counts } = fakeFactory({ fail: () => false });
    factory.create = async (device) => {
      counts.create += 1;
      if (device.kind === 'cuda') throw new Error('CUDA provider not available');
      return { serial: counts.create, device: device.id, destroyed: false } satisfies FakeService;
    };
    const pool = makePool({ factory, devices: [cpu(), gpu(0, 8000)], maxCreateFailures: 2, createRetryDelayMs: 10 });
    const lease = await pool.acquire({ timeoutMs: 2000 });
    expect(lease.device).toBe('cpu');
    expect(pool.stats().devices['cuda:0']!.consecutiveCreateFailures).toBe(2);
    await lease.release();
  });
});

describe('ServicePool custom selector', () => {
  it('puts requests where the selector says and passes it ranked candidates', async () => {
    const { factory } = fakeFactory();
    const seen: DeviceCandidate[][] = [];
    const pool = makePool({
      factory,
      devices: [cpu(), gpu(0, 8000), gpu(1, 2000)],
      maxPerDevice: 2,
      selector: (candidates) => {
        seen.push(candidates);
        return candidates.at(-2)?.device.id; // the GPU with the least memory
      },
    });
    const a = await pool.acquire({ memoryMb: 500 });
    const b = await pool.acquire({ memoryMb: 500 });
    expect([a.device, b.device]).toEqual(['cuda:1', 'cuda:1']);
    const first = seen[0]!;
    expect(first.map((candidate) => candidate.device.id)).toEqual(['cuda:0', 'cuda:1', 'cpu']);
    expect(first[1]).toMatchObject({ fits: true, ready: true, size: 0, max: 2, availableMemoryMb: 2000 });
    await a.release();
    await b.release();
  });

  it('lets the pool choose when the selector returns undefined, and rejects an id that is not a candidate', async () => {
    const { factory } = fakeFactory();
    const undecided = makePool({ factory, devices: [cpu(), gpu(0, 8000)], selector: () => undefined });
    const lease = await undecided.acquire();
    expect(lease.device).toBe('cuda:0');
    await lease.release();

    const wrong = makePool({ factory, devices: [cpu(), gpu(0, 8000)], selector: () => 'tpu:0' });
    const result = await outcome(wrong.acquire());
    expect(result.ok || result.error).toBeInstanceOf(InvalidArgumentError);
    expect(result.ok || result.error.message).toMatch(/tpu:0/);
  });
});

describe('ServicePool stats', () => {
  it('reports size, use, waiting, memory and utilization per device and in total', async () => {
    const { factory } = fakeFactory({ memoryMb: (device) => (device.kind === 'cuda' ? 1200 : 300) });
    const pool = makePool({ factory, devices: [cpu(10_000), gpu(0, 8000)], maxPerDevice: 2, acquireTimeoutMs: 1000 });
    expect(pool.stats()).toMatchObject({ state: 'new', devices: {}, totals: { size: 0 } });

    const a = await pool.acquire({ device: 'cuda:0', memoryMb: 1000 });
    const b = await pool.acquire({ device: 'cuda:0', memoryMb: 500 });
    const c = await pool.acquire({ device: 'cpu' });
    const waiting = pool.acquire({ device: 'cuda:0' });
    await sleep(10);

    const stats = pool.stats();
    expect(stats.name).toBe('service-pool');
    expect(stats.state).toBe('running');
    expect(stats.devices['cuda:0']).toEqual({
      device: 'cuda:0',
      kind: 'cuda',
      healthy: true,
      enabled: true,
      min: 0,
      max: 2,
      size: 2,
      inUse: 2,
      idle: 0,
      waiting: 1,
      pendingCreates: 0,
      reservedMemoryMb: 2 * 1200 + 1000 + 500,
      totalMemoryMb: 16_000,
      freeMemoryMb: 8000,
      availableMemoryMb: 8000 - 3900,
      utilization: 1,
      consecutiveCreateFailures: 0,
    });
    expect(stats.devices.cpu).toMatchObject({ size: 1, inUse: 1, reservedMemoryMb: 300, utilization: 0.5 });
    expect(stats.totals).toEqual({
      size: 3,
      inUse: 3,
      idle: 0,
      waiting: 1,
      pendingCreates: 0,
      reservedMemoryMb: 4200,
      totalMemoryMb: 48_000,
      freeMemoryMb: 18_000,
      utilization: 3 / 4,
    });
    expect(pool.utilization()).toEqual({ cpu: 0.5, 'cuda:0': 1 });
    expect(pool.devices().map((device) => device.id)).toEqual(['cpu', 'cuda:0']);

    await a.release();
    const d = await waiting;
    for (const lease of [b, c, d]) await lease.release();
    expect(pool.stats().totals).toMatchObject({ inUse: 0, idle: 3, waiting: 0, reservedMemoryMb: 2700 });
  });
});

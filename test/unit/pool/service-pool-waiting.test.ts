import { describe, expect, it } from 'vitest';
import { PoolExhaustedError } from '../../../src/core/errors';
import type { ServicePoolEvents } from '../../../src/pool';
import { cpu, fakeFactory, gpu, makePool, outcome, sleep } from './fakes';

describe('ServicePool acquire timeout and abort', () => {
  it('rejects with PoolExhaustedError after the timeout and forgets the waiter', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()], acquireTimeoutMs: 60 });
    const held = await pool.acquire();
    const result = await outcome(pool.acquire());
    expect(result.ok).toBe(false);
    expect(result.ok || result.error).toBeInstanceOf(PoolExhaustedError);
    expect(result.ok || result.error.code).toBe('POOL_EXHAUSTED');
    expect(result.ok || result.error.message).toMatch(/within 60 ms/);
    expect(result.ms).toBeGreaterThanOrEqual(50);
    expect(result.ms).toBeLessThan(1000);
    expect(pool.stats().totals.waiting).toBe(0);

    const short = await outcome(pool.acquire({ timeoutMs: 20 }));
    expect(short.ok).toBe(false);
    expect(short.ms).toBeLessThan(500);
    await held.release();
  });

  it("rejects with the signal's reason when aborted, and removes the waiter", async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()] });
    const held = await pool.acquire();
    const controller = new AbortController();
    const reason = new Error('client went away');
    const pending = outcome(pool.acquire({ signal: controller.signal }));
    await sleep(10);
    expect(pool.stats().totals.waiting).toBe(1);
    controller.abort(reason);
    const result = await pending;
    expect(result.ok || result.error).toBe(reason);
    expect(pool.stats().totals.waiting).toBe(0);

    const plain = new AbortController();
    const pendingPlain = outcome(pool.acquire({ signal: plain.signal }));
    plain.abort();
    const plainResult = await pendingPlain;
    expect(plainResult.ok || plainResult.error.name).toBe('AbortError');

    const already = await outcome(pool.acquire({ signal: AbortSignal.abort(reason) }));
    expect(already.ok || already.error).toBe(reason);
    await held.release();
  });

  it('never hands a released instance to a waiter that timed out or aborted', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()] });
    const acquired: ServicePoolEvents['pool:acquire'][] = [];
    pool.on('pool:acquire', (event) => acquired.push(event));
    const held = await pool.acquire();
    const controller = new AbortController();
    const timedOut = outcome(pool.acquire({ timeoutMs: 20 }));
    const aborted = outcome(pool.acquire({ signal: controller.signal }));
    const patient = pool.acquire({ timeoutMs: 2000 });
    expect((await timedOut).ok).toBe(false);
    controller.abort();
    expect((await aborted).ok).toBe(false);

    await held.release();
    const lease = await patient;
    expect(lease.instanceId).toBe(held.instanceId);
    expect(acquired).toHaveLength(2);
    expect(pool.stats().devices.cpu).toMatchObject({ inUse: 1, idle: 0, waiting: 0 });
    await lease.release();
    expect(pool.stats().devices.cpu).toMatchObject({ inUse: 0, idle: 1 });
  });

  it('returns an instance to the pool when its waiter times out during validation', async () => {
    const { factory, counts } = fakeFactory({ validate: () => sleep(80).then(() => true) });
    const pool = makePool({ factory, devices: [cpu()] });
    const first = await pool.acquire();
    await first.release();
    const result = await outcome(pool.acquire({ timeoutMs: 20 }));
    expect(result.ok).toBe(false);
    expect(counts.validate).toBe(1);
    await sleep(100);
    expect(pool.stats().devices.cpu).toMatchObject({ size: 1, inUse: 0, idle: 1 });
    const again = await pool.acquire();
    expect(again.instanceId).toBe(first.instanceId);
    await again.release();
  });
});

describe('ServicePool factory failures', () => {
  it('rejects waiters of an always-failing factory in bounded time with a bounded number of creates', async () => {
    const { factory, counts } = fakeFactory({ fail: true });
    const pool = makePool({
      factory,
      devices: [cpu()],
      maxPerDevice: 2,
      maxCreateFailures: 3,
      createRetryDelayMs: 10,
      acquireTimeoutMs: 10_000,
    });
    const errors: ServicePoolEvents['pool:create-error'][] = [];
    pool.on('pool:create-error', (event) => errors.push(event));
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => outcome(pool.acquire())));
    for (const result of results) {
      expect(result.ok).toBe(false);
      expect(result.ok || result.error).toBeInstanceOf(PoolExhaustedError);
      expect(result.ok || result.error.cause).toBeInstanceOf(Error);
      expect(result.ok || result.error.cause.message).toMatch(/^create #\d failed$/);
      expect(result.ms).toBeLessThan(1000);
    }
    // Two in parallel, then a single probe after the back-off: the third failure ends it.
    expect(counts.create).toBe(3);
    expect(errors.map((event) => event.consecutiveFailures)).toEqual(errors.map((_, i) => i + 1));
    expect(errors.at(-1)!.retryInMs).toBeGreaterThan(errors[0]!.retryInMs);

    // No waiters, no minimum: nothing keeps trying in the background.
    const settled = counts.create;
    await sleep(150);
    expect(counts.create).toBe(settled);
  });

  it('fails fast while the device is in back-off, then probes with a single create', async () => {
    const { factory, counts } = fakeFactory({ fail: true });
    const pool = makePool({ factory, devices: [cpu()], maxCreateFailures: 1, createRetryDelayMs: 300 });
    const first = await outcome(pool.acquire());
    expect(first.ok).toBe(false);
    expect(counts.create).toBe(1);

    const during = await outcome(pool.acquire());
    expect(during.ok || during.error).toBeInstanceOf(PoolExhaustedError);
    expect(during.ms).toBeLessThan(200); // did not wait for the 300 ms back-off
    expect(counts.create).toBe(1);

    await sleep(350);
    const after = await outcome(pool.acquire());
    expect(after.ok).toBe(false);
    expect(counts.create).toBe(2);
  });

  it('gives the waiter a service once the factory recovers, and resets the failure count', async () => {
    const { factory, counts } = fakeFactory({ fail: (attempt) => attempt <= 2 });
    const pool = makePool({ factory, devices: [cpu()], maxCreateFailures: 5, createRetryDelayMs: 10 });
    const lease = await pool.acquire({ timeoutMs: 2000 });
    expect(lease.service.serial).toBe(3);
    expect(counts.createFailed).toBe(2);
    expect(pool.stats().devices.cpu!.consecutiveCreateFailures).toBe(0);
    await lease.release();
  });

  it('puts the factory error in the cause of an acquire that timed out while creates failed', async () => {
    const { factory } = fakeFactory({ fail: true });
    const pool = makePool({ factory, devices: [cpu()], maxCreateFailures: 100, createRetryDelayMs: 10 });
    const result = await outcome(pool.acquire({ timeoutMs: 80 }));
    expect(result.ok || result.error).toBeInstanceOf(PoolExhaustedError);
    expect(result.ok || result.error.cause?.message).toMatch(/^create #\d+ failed$/);
    expect(result.ok || result.error.message).toMatch(/last create error/);
  });

  it('keeps retrying the minimum with growing back-off, and start() reports the failure', async () => {
    const { factory, counts } = fakeFactory({ fail: true });
    const pool = makePool({ factory, devices: [cpu()], minPerDevice: 1, createRetryDelayMs: 20 });
    const started = await outcome(pool.start());
    expect(started.ok || started.error.message).toBe('create #1 failed');
    await sleep(300);
    // Delays 20, 40, 80, 160 ms: at most five attempts in ~300 ms, not hundreds.
    expect(counts.create).toBeGreaterThanOrEqual(3);
    expect(counts.create).toBeLessThanOrEqual(5);
  });

  it('treats a factory that returns an already pooled value as a failed create', async () => {
    const shared = { serial: 0, device: 'cpu', destroyed: false };
    const pool = makePool({
      factory: { create: async () => shared },
      devices: [cpu()],
      maxPerDevice: 2,
      maxCreateFailures: 1,
      createRetryDelayMs: 50,
    });
    const first = await pool.acquire();
    const second = await outcome(pool.acquire({ timeoutMs: 100 }));
    expect(second.ok || second.error).toBeInstanceOf(PoolExhaustedError);
    expect(second.ok || second.error.cause?.message).toMatch(/already pooled/);
    expect(pool.stats().devices.cpu!.size).toBe(1);
    await first.release();
  });
});

describe('ServicePool validation on borrow', () => {
  it('destroys an instance that fails validation and serves the request with a new one', async () => {
    const { factory, counts, created } = fakeFactory({ validate: (service) => service.serial !== 1 });
    const pool = makePool({ factory, devices: [cpu()] });
    const destroyed: ServicePoolEvents['pool:destroy'][] = [];
    pool.on('pool:destroy', (event) => destroyed.push(event));

    const first = await pool.acquire();
    expect(counts.validate).toBe(0); // a fresh instance is not validated
    await first.release();
    const second = await pool.acquire();
    expect(counts.validate).toBe(1);
    expect(second.service.serial).toBe(2);
    expect(created[0]!.destroyed).toBe(true);
    await sleep(0);
    expect(destroyed).toEqual([{ pool: 'service-pool', device: 'cpu', instanceId: first.instanceId, reason: 'invalid' }]);
    await second.release();
    const third = await pool.acquire();
    expect(third.service.serial).toBe(2);
    expect(counts.validate).toBe(2);
    await third.release();
  });

  it('treats a throwing validate as invalid, and a validate that always fails does not loop', async () => {
    const { factory, counts } = fakeFactory({
      validate: () => {
        throw new Error('health check crashed');
      },
    });
    const pool = makePool({ factory, devices: [cpu()] });
    for (let i = 0; i < 5; i += 1) {
      const lease = await pool.acquire();
      await lease.release();
    }
    expect(counts.create).toBe(5);
    expect(counts.validate).toBe(4);
    expect(counts.destroy).toBe(4);
  });

  it('skips validation when validateOnBorrow is off', async () => {
    const { factory, counts } = fakeFactory({ validate: () => false });
    const pool = makePool({ factory, devices: [cpu()], validateOnBorrow: false });
    for (let i = 0; i < 3; i += 1) await (await pool.acquire()).release();
    expect(counts.validate).toBe(0);
    expect(counts.create).toBe(1);
  });
});

describe('ServicePool with GPUs and waiting', () => {
  it('serves a waiter for an explicit device only from that device', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu(), gpu(0, 8000), gpu(1, 8000)] });
    const onZero = await pool.acquire({ device: 'cuda:0' });
    const onOne = await pool.acquire({ device: 'cuda:1' });
    const waiting = pool.acquire({ device: 'cuda:0', timeoutMs: 2000 });
    await onOne.release();
    await sleep(10);
    expect(pool.stats().devices['cuda:0']!.waiting).toBe(1);
    await onZero.release();
    const last = await waiting;
    expect(last.device).toBe('cuda:0');
    await last.release();
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError, PoolClosedError, PoolExhaustedError } from '../../../src/core/errors';
import { cpu, fakeFactory, gpu, makePool, outcome, sleep } from './fakes';

describe('ServicePool close()/drain() with timeoutMs', () => {
  it('rejects with PoolClosedError naming each lease still out, and finishes closing when it comes back', async () => {
    const { factory, counts } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu(), gpu(0, 8000)], maxPerDevice: 2 });
    const kept = await pool.acquire({ device: 'cuda:0' });
    const returned = await pool.acquire({ device: 'cpu' });
    await returned.release();

    const result = await outcome(pool.close({ timeoutMs: 50 }));
    expect(result.ok).toBe(false);
    const error = result.ok ? undefined : result.error;
    expect(error).toBeInstanceOf(PoolClosedError);
    expect(error.code).toBe('POOL_CLOSED');
    expect(error.message).toMatch(/close\(\) timed out after 50 ms; 1 lease is still out/);
    expect(error.message).toContain(`${kept.instanceId} on cuda:0`);
    expect(error.message).not.toContain(returned.instanceId);
    expect(error.message).toMatch(/set leaseTimeoutMs/);
    expect(result.ms).toBeGreaterThanOrEqual(45);

    // Still closing: nothing is lent, the idle instance is gone, the leased one waits for its lease.
    expect(pool.stats()).toMatchObject({ state: 'draining', totals: { size: 1, inUse: 1 } });
    expect((await outcome(pool.acquire())).ok).toBe(false);
    await kept.release();
    await pool.close();
    expect(pool.stats().state).toBe('closed');
    expect(counts.destroy).toBe(counts.create);
  });

  it('says how long each lease was held and where it was acquired when leak detection is on', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()], maxPerDevice: 2, leaseTimeoutMs: 60_000 });
    const first = await pool.acquire();
    const second = await pool.acquire();
    await sleep(20);
    const result = await outcome(pool.drain({ timeoutMs: 30 }));
    const message: string = result.ok ? '' : result.error.message;
    expect(message).toMatch(/drain\(\) timed out after 30 ms; 2 leases are still out/);
    for (const lease of [first, second]) expect(message).toMatch(new RegExp(`${lease.instanceId} on cpu \\(held \\d+ ms, acquired at .*service-pool-close\\.test\\.ts`));
    expect(message).not.toMatch(/set leaseTimeoutMs/);
    await first.release();
    await second.release();
    await pool.drain();
    expect(pool.stats().state).toBe('drained');
  });

  it('resolves as usual when every lease comes back in time', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()] });
    const lease = await pool.acquire();
    const closing = outcome(pool.close({ timeoutMs: 2000 }));
    await sleep(10);
    await lease.release();
    const result = await closing;
    expect(result.ok).toBe(true);
    expect(result.ms).toBeLessThan(1000);
    expect(pool.stats().state).toBe('closed');
    expect((await outcome(pool.close({ timeoutMs: 10 }))).ok).toBe(true);
  });

  it('rejects bad close options, naming them, and changes nothing', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()] });
    const lease = await pool.acquire();
    for (const options of [{ timeout: 50 }, { timeoutMs: -1 }, { timeoutMs: Number.NaN }, 'soon']) {
      const result = await outcome(pool.close(options as never));
      expect(result.ok || result.error).toBeInstanceOf(InvalidArgumentError);
      expect(result.ok || result.error.message).toMatch(/close option|close options/);
    }
    expect((await outcome(pool.drain({ timeout: 1 } as never))).ok).toBe(false);
    expect(pool.stats().state).toBe('running');
    await lease.release();
    const again = await pool.acquire();
    await again.release();
  });
});

describe('ServicePool timers', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('arms no timer for an acquire served at once, and one shared timer for many waiters', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()], maxPerDevice: 2, acquireTimeoutMs: 5000 });
    await pool.start();
    const warm = await Promise.all([pool.acquire(), pool.acquire()]);
    for (const lease of warm) await lease.release();

    const timers = vi.spyOn(globalThis, 'setTimeout');
    for (let i = 0; i < 1000; i += 1) {
      const lease = await pool.acquire();
      await lease.release();
    }
    expect(timers).not.toHaveBeenCalled();

    const held = await Promise.all([pool.acquire(), pool.acquire()]);
    const waiting = Array.from({ length: 50 }, () => pool.acquire());
    expect(pool.stats().totals.waiting).toBe(50);
    // The deadlines are stamped (and the one timer armed) at the end of the turn.
    await new Promise((resolve) => setImmediate(resolve));
    expect(timers).toHaveBeenCalledTimes(1);
    for (const lease of held) await lease.release();
    for (const pending of waiting) await (await pending).release();
  });

  it('expires each waiter at its own deadline, whatever the order of arrival', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()] });
    const held = await pool.acquire();
    const patient = outcome(pool.acquire({ timeoutMs: 400 }));
    const hasty = outcome(pool.acquire({ timeoutMs: 40 }));
    const result = await hasty;
    expect(result.ok || result.error).toBeInstanceOf(PoolExhaustedError);
    expect(result.ms).toBeLessThan(350);
    expect(pool.stats().totals.waiting).toBe(1);
    await held.release();
    const served = await patient;
    expect(served.ok).toBe(true);
    if (served.ok) await served.value.release();
  });
});

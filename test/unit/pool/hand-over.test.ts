// Issue 8: a release with waiters queued hands the instance straight to the oldest waiter
// (one device, no memory reserved): first come, first served, the stats as on the general
// path, and requests the shortcut cannot decide (memory, a selector) still placed properly.
import { describe, expect, it } from 'vitest';
import { cpu, fakeFactory, makePool } from './fakes';

describe('ServicePool hand-over on release', () => {
  it('serves queued waiters in arrival order, one instance at a time, with the counts right', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()], maxPerDevice: 1 });
    const first = await pool.acquire();
    const order: number[] = [];
    const waiting = [1, 2, 3].map((n) =>
      pool.acquire().then(async (lease) => {
        order.push(n);
        expect(pool.stats().totals.inUse).toBe(1);
        await lease.release();
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(pool.stats().totals.waiting).toBe(3);
    await first.release();
    await Promise.all(waiting);
    expect(order).toEqual([1, 2, 3]);
    const stats = pool.stats().totals;
    expect(stats.inUse).toBe(0);
    expect(stats.idle).toBe(1);
    expect(stats.waiting).toBe(0);
    await pool.close();
  });

  it('a waiter that reserves memory goes through placement, which still accounts for it', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()], maxPerDevice: 1 });
    const first = await pool.acquire();
    const idleReserved = pool.stats().devices.cpu!.reservedMemoryMb;
    const next = pool.acquire({ memoryMb: 500 });
    await new Promise((resolve) => setImmediate(resolve));
    await first.release();
    const lease = await next;
    expect(lease.memoryMb).toBe(500);
    expect(pool.stats().devices.cpu!.reservedMemoryMb).toBe(idleReserved + 500);
    await lease.release();
    expect(pool.stats().devices.cpu!.reservedMemoryMb).toBe(idleReserved);
    await pool.close();
  });

  it('a thousand borrowers on two instances all finish (no lost hand-over)', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()], maxPerDevice: 2 });
    let done = 0;
    await Promise.all(
      Array.from({ length: 1000 }, async () => {
        const lease = await pool.acquire();
        await lease.release();
        done++;
      }),
    );
    expect(done).toBe(1000);
    expect(pool.stats().totals.inUse).toBe(0);
    await pool.close();
  });
});

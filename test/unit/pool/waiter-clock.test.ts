// Issue 8: queued acquires read no clock and arm no timer each. The waiters queued in one
// event-loop turn are stamped by one clock reading at its end (one setImmediate), and one
// timer serves every deadline; a queued waiter still times out, never before its timeoutMs.
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PoolExhaustedError } from '../../../src';
import { cpu, fakeFactory, makePool, sleep } from './fakes';

/** setTimeout calls of the pool's (delay within its acquire timeout; vitest arms its own hook timers too). */
const poolTimers = (spy: { mock: { calls: unknown[][] } }, timeoutMs: number): number =>
  spy.mock.calls.filter(([, delay]) => typeof delay === 'number' && delay <= timeoutMs).length;

const endOfTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ServicePool waiters: one clock reading and one timer per turn, not per waiter', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('a hundred waiters queued in one turn read the clock once and arm one timer and one immediate', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()], maxPerDevice: 2, acquireTimeoutMs: 5000 });
    await pool.start();
    const held = await Promise.all([pool.acquire(), pool.acquire()]);
    await endOfTurn(); // the stamp of those two acquires (they waited for their creates) is behind us

    const clock = vi.spyOn(performance, 'now');
    const timers = vi.spyOn(globalThis, 'setTimeout');
    const immediates = vi.spyOn(globalThis, 'setImmediate');
    const waiting = Array.from({ length: 100 }, () => pool.acquire());
    expect(pool.stats().totals.waiting).toBe(100);
    expect(clock).not.toHaveBeenCalled();
    expect(poolTimers(timers, 5000)).toBe(0);
    expect(immediates).toHaveBeenCalledTimes(1);
    await endOfTurn(); // ours ran first: the stamp, then the one timer for the earliest deadline
    expect(clock.mock.calls.length).toBeLessThanOrEqual(2); // the stamp, the timer's delay
    expect(poolTimers(timers, 5000)).toBe(1);
    vi.restoreAllMocks();

    for (const lease of held) await lease.release();
    for (const pending of waiting) await (await pending).release();
    expect(pool.stats().totals.waiting).toBe(0);
  });

  it('waiters served within their turn are never stamped and arm no timer', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()], maxPerDevice: 1, acquireTimeoutMs: 5000 });
    await pool.start();
    await (await pool.acquire()).release(); // the instance exists
    await endOfTurn();
    const timers = vi.spyOn(globalThis, 'setTimeout');
    // 50 borrowers on one instance: every hand-off is a microtask, the turn never ends in between.
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        for (let i = 0; i < 20; i += 1) await (await pool.acquire()).release();
      }),
    );
    expect(poolTimers(timers, 5000)).toBe(0);
  });

  it('a queued waiter times out at its deadline with PoolExhaustedError, never earlier, even after a long turn', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()], maxPerDevice: 1 });
    const held = await pool.acquire();
    const calledAt = performance.now();
    const waiting = pool.acquire({ timeoutMs: 60 }).then(
      () => ({ error: undefined, at: performance.now() }),
      (error: unknown) => ({ error, at: performance.now() }),
    );
    while (performance.now() - calledAt < 30); // the rest of the turn is long and synchronous
    const { error, at } = await waiting;
    expect(error).toBeInstanceOf(PoolExhaustedError);
    expect(String((error as Error).message)).toMatch(/no service became available on 'auto' \(waiting for cpu\) within 60 ms/);
    expect(at - calledAt).toBeGreaterThanOrEqual(60);
    expect(at - calledAt).toBeLessThan(60 + 30 + 500); // from the end of that turn, plus timer slack
    expect(pool.stats().totals.waiting).toBe(0);
    await held.release();
  });

  it('waiters of later turns keep their own deadlines (FIFO order, one timer re-armed)', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()], maxPerDevice: 1 });
    const held = await pool.acquire();
    const settled: string[] = [];
    const track = (name: string, timeoutMs: number) =>
      pool.acquire({ timeoutMs }).then(
        (lease) => {
          settled.push(`${name}:served`);
          return lease.release();
        },
        () => void settled.push(`${name}:timed-out`),
      );
    const a = track('a', 40);
    await sleep(10);
    const b = track('b', 400);
    await sleep(10);
    const c = track('c', 40);
    await Promise.all([a, c]);
    expect(settled).toEqual(['a:timed-out', 'c:timed-out']);
    await held.release();
    await b;
    expect(settled).toEqual(['a:timed-out', 'c:timed-out', 'b:served']);
  });

  it('waitedMs stays exact when someone listens to pool:acquire (the waiter is stamped at once)', async () => {
    const { factory } = fakeFactory();
    const pool = makePool({ factory, devices: [cpu()], maxPerDevice: 1 });
    const waited: number[] = [];
    await pool.start();
    await (await pool.acquire()).release(); // the instance exists
    pool.on('pool:acquire', (event) => waited.push(event.waitedMs));
    const held = await pool.acquire();
    const next = pool.acquire();
    const calledAt = performance.now();
    while (performance.now() - calledAt < 20); // same turn: an end-of-turn stamp would miss these 20 ms
    await held.release();
    await (await next).release();
    expect(waited[0]).toBe(0);
    expect(waited[1]).toBeGreaterThanOrEqual(20);
  });
});

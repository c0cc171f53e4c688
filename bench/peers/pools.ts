// Acquire + release of 10 pooled plain objects with 1, 10 and 100 borrowers:
// upkeep's ServicePool against generic-pool and tarn. Each borrower loops
// acquire -> release (awaiting both) and watches the clock itself, because hand-offs may
// resolve through microtasks only and a timer would never fire.
import genericPool from 'generic-pool';
import { Pool as TarnPool } from 'tarn';
import { ServicePool, type DeviceInfo } from '../../src/pool';

export const POOL_INSTANCES = 10;

interface PoolUnderTest {
  acquire(): Promise<unknown>;
  release(item: unknown): unknown;
  close(): Promise<void>;
}

const cpu: DeviceInfo = { id: 'cpu', kind: 'cpu', name: 'bench CPU', totalMemoryMb: 64_000, freeMemoryMb: 48_000, healthy: true };

export const POOL_CONFIG = {
  ServicePool: { devices: '[cpu] (fixed list, no probe)', minPerDevice: 10, maxPerDevice: 10, acquireTimeoutMs: 60_000, other: 'defaults' },
  'generic-pool 3.9.0': { min: 10, max: 10, acquireTimeoutMillis: 'unset (no timer per acquire)', testOnBorrow: 'false (default)', other: 'defaults' },
  'tarn 3.1.2': { min: 10, max: 10, acquireTimeoutMillis: 60_000, other: 'defaults' },
};

export type PoolName = 'ServicePool' | 'generic-pool' | 'tarn';
export const POOL_NAMES: PoolName[] = ['ServicePool', 'generic-pool', 'tarn'];

async function makePool(name: PoolName): Promise<PoolUnderTest> {
  let made = 0;
  if (name === 'ServicePool') {
    const pool = new ServicePool<object>({ name: 'bench', devices: [cpu], minPerDevice: POOL_INSTANCES, maxPerDevice: POOL_INSTANCES, acquireTimeoutMs: 60_000, factory: { create: async () => ({ n: ++made }) } });
    await pool.start();
    return {
      acquire: () => pool.acquire(),
      release: (lease) => (lease as { release(): Promise<void> }).release(),
      close: () => pool.close(),
    };
  }
  if (name === 'generic-pool') {
    const pool = genericPool.createPool({ create: async () => ({ n: ++made }), destroy: async () => {} }, { min: POOL_INSTANCES, max: POOL_INSTANCES });
    await pool.ready();
    return {
      acquire: () => pool.acquire(),
      release: (item) => pool.release(item as { n: number }),
      close: async () => {
        await pool.drain();
        await pool.clear();
      },
    };
  }
  const pool = new TarnPool<{ n: number }>({ create: async () => ({ n: ++made }), destroy: () => {}, min: POOL_INSTANCES, max: POOL_INSTANCES, acquireTimeoutMillis: 60_000 });
  // tarn creates its minimum lazily: borrow all ten once so every measurement starts warm.
  const first = await Promise.all(Array.from({ length: POOL_INSTANCES }, () => pool.acquire().promise));
  for (const item of first) pool.release(item);
  return {
    acquire: () => pool.acquire().promise,
    release: (item) => pool.release(item as { n: number }),
    close: async () => {
      await pool.destroy();
    },
  };
}

/** Acquire+release pairs per second for `borrowers` concurrent loops over 10 instances. */
export async function measurePool(name: PoolName, borrowers: number, seconds: number, warmupSeconds: number): Promise<number> {
  const pool = await makePool(name);
  let ops = 0;
  let measuring = false;
  const t0 = performance.now();
  const warmEnd = t0 + warmupSeconds * 1000;
  const end = warmEnd + seconds * 1000;
  let measureStart = warmEnd;
  const borrower = async () => {
    for (;;) {
      const now = performance.now();
      if (now >= end) return;
      if (!measuring && now >= warmEnd) {
        measuring = true;
        ops = 0;
        measureStart = now;
      }
      const item = await pool.acquire();
      await pool.release(item);
      ops += 1;
    }
  };
  await Promise.all(Array.from({ length: borrowers }, borrower));
  const elapsed = performance.now() - measureStart;
  await pool.close();
  return (ops / elapsed) * 1000;
}

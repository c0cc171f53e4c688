import { describe, expect, it } from 'vitest';
import { PoolExhaustedError, ServicePool, type DeviceInfo } from '../../../src';

const cpu: DeviceInfo = { id: 'cpu', kind: 'cpu', name: 'cpu', totalMemoryMb: 32_000, freeMemoryMb: 16_000, healthy: true };
const gpu = (free: number): DeviceInfo => ({ id: 'cuda:0', kind: 'cuda', index: 0, name: 'gpu', totalMemoryMb: 20_000, freeMemoryMb: free, healthy: true });
const never = () => new Promise<never>(() => undefined);

describe('ServicePool: factory calls that hang are bounded', () => {
  it('a validate that never settles counts as invalid: the slot is freed and the waiter gets a fresh instance', async () => {
    let serial = 0;
    let validations = 0;
    const pool = new ServicePool<{ serial: number }>({
      devices: [cpu],
      validateTimeoutMs: 50,
      destroyTimeoutMs: 50,
      factory: {
        create: async () => ({ serial: ++serial }),
        validate: (s) => (++validations === 1 ? never() : s.serial > 0),
      },
    });
    const first = await pool.acquire();
    await first.release();
    const second = await pool.acquire({ timeoutMs: 2000 }); // validate of #1 hangs → #2 created
    expect(second.service.serial).toBe(2);
    await second.release();
    await pool.close(); // does not hang
    expect(pool.stats().totals.size).toBe(0);
  });

  it('a destroy that never settles frees its memory and does not hold drain/close', async () => {
    const pool = new ServicePool<object>({
      devices: [gpu(1000)],
      destroyTimeoutMs: 50,
      factory: { create: async () => ({}), destroy: () => never(), memoryMb: 600 },
    });
    const lease = await pool.acquire({ device: 'cuda:0' });
    await lease.destroy();
    expect(pool.stats().devices['cuda:0']!.reservedMemoryMb).toBe(0);
    const again = await pool.acquire({ device: 'cuda:0', timeoutMs: 1000 }); // the 600 MB came back
    await again.release();
    const closing = pool.close();
    await expect(Promise.race([closing.then(() => 'closed'), new Promise((r) => setTimeout(() => r('hung'), 1000))])).resolves.toBe('closed');
  });

  it('a create that never settles fails after createTimeoutMs, and close() does not hang', async () => {
    const pool = new ServicePool<object>({
      devices: [cpu],
      createTimeoutMs: 50,
      createRetryDelayMs: 20,
      maxCreateFailures: 2,
      factory: { create: () => never() },
    });
    const started = Date.now();
    await expect(pool.acquire({ timeoutMs: 3000 })).rejects.toBeInstanceOf(PoolExhaustedError);
    expect(Date.now() - started).toBeLessThan(2500);
    expect(pool.stats().totals.pendingCreates).toBe(0);
    await pool.close();
  });
});

describe('ServicePool: refreshDevices with leases out', () => {
  it('memory reserved by leases is not counted twice after a probe', async () => {
    let free = 10_000;
    const pool = new ServicePool<object>({
      devices: async () => [gpu(free)],
      cpuFallback: false,
      factory: { create: async () => ({}) },
      maxPerDevice: 2,
    });
    const held = await pool.acquire({ device: 'cuda:0', memoryMb: 6000 });
    free = 4000; // what the driver now reports: the lease's 6000 MB are in use
    await pool.refreshDevices();
    expect(pool.stats().devices['cuda:0']!.availableMemoryMb).toBe(4000);
    await held.release();
    const again = await pool.acquire({ device: 'cuda:0', memoryMb: 6000, timeoutMs: 500 });
    await again.release();
    await pool.close();
  });
});

import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { OutOfMemoryError, ServicePool, type DeviceInfo } from '../../../src';
import { createOnnxSessionFactory, type OnnxSessionService } from '../../../src/integrations/onnx';

const runtimeModule = fileURLToPath(new URL('./fixtures/fake-ort.mjs', import.meta.url));
const devices: DeviceInfo[] = [
  { id: 'cpu', kind: 'cpu', name: 'CPU', totalMemoryMb: 1000, freeMemoryMb: 1000, healthy: true },
  { id: 'cuda:0', kind: 'cuda', index: 0, name: 'GPU', totalMemoryMb: 1000, freeMemoryMb: 1000, healthy: true },
];
const model = (mode: string) => new TextEncoder().encode(mode);
const input = { x: { type: 'float32', data: new Float32Array([1]), dims: [1] } };

describe('upkeep/onnx robustness (fake runtime)', () => {
  it('out of GPU memory while opening a session is an OutOfMemoryError, not a silent CPU session on a GPU slot', async () => {
    const factory = createOnnxSessionFactory({ model: model('cuda-oom'), runtimeModule, memoryMb: 10 });
    const gpu = devices[1]!;
    await expect(factory.create(gpu, { instanceId: 'a', signal: new AbortController().signal })).rejects.toBeInstanceOf(OutOfMemoryError);
    // A provider that cannot load still falls back to the CPU, as documented.
    const fallback = createOnnxSessionFactory({ model: model('cuda-fails'), runtimeModule, memoryMb: 10 });
    const session = await fallback.create(gpu, { instanceId: 'b', signal: new AbortController().signal });
    expect(session.executionProvider).toBe('cpu');
    await session.close();
  });

  it('a session whose release() hangs does not hold pool.close() for ever', async () => {
    const factory = createOnnxSessionFactory({ model: model('release-hangs'), runtimeModule, closeTimeoutMs: 200, memoryMb: 10 });
    const pool = new ServicePool<OnnxSessionService>({ factory, devices: [devices[0]!], destroyTimeoutMs: 20_000 });
    await pool.use({}, (s) => s.run(input));
    const outcome = await Promise.race([pool.close().then(() => 'closed'), new Promise((r) => setTimeout(() => r('hung'), 15_000))]);
    expect(outcome).toBe('closed');
  }, 20_000);

  it('a session still executing an aborted run is not lent to the next borrower', async () => {
    const factory = createOnnxSessionFactory({ model: model('run-slow'), runtimeModule, memoryMb: 10 });
    const pool = new ServicePool<OnnxSessionService>({ factory, devices: [devices[0]!], maxPerDevice: 2 });
    const first = await pool.acquire();
    const aborted = new AbortController();
    const run = first.service.run(input, { signal: aborted.signal });
    aborted.abort();
    await expect(run).rejects.toBeTruthy();
    await first.release();
    const second = await pool.acquire();
    expect(second.instanceId).not.toBe(first.instanceId); // the busy one was not handed out
    await second.release();
    await pool.close();
  });
});

/** The ONNX session factory inside the real ServicePool. */
import { afterAll, describe, expect, it } from 'vitest';
import { createOnnxSessionFactory, type DeviceInfo, type OnnxSessionService } from '../../../src/integrations/onnx';
import { ServicePool } from '../../../src/pool';
import { createScorerWeights, encodeScorerModel, referenceScore, scorerInput } from '../../../scripts/generate-onnx-model';

const weights = createScorerWeights({ inputSize: 32, hiddenSize: 16, seed: 21 });
const devices: DeviceInfo[] = [
  { id: 'cpu', kind: 'cpu', name: 'CPU', totalMemoryMb: 16384, freeMemoryMb: 8192, healthy: true },
  { id: 'cuda:0', kind: 'cuda', index: 0, name: 'Simulated GPU', totalMemoryMb: 81920, freeMemoryMb: 80000, healthy: true },
];

describe('createOnnxSessionFactory with ServicePool', () => {
  const factory = createOnnxSessionFactory({ model: encodeScorerModel(weights), intraOpNumThreads: 1, memoryMb: 64 });
  const pool = new ServicePool<OnnxSessionService>({ name: 'scorer', factory, devices, maxPerDevice: 1 });
  afterAll(() => pool.close());

  it('reuses one session per device across tasks and records the provider actually used', async () => {
    const input = scorerInput(6, 32, 3);
    const expected = referenceScore(weights, input);
    const seen = new Set<string>();
    for (let task = 0; task < 4; task++) {
      await pool.use({ device: 'cuda:0' }, async (session, lease) => {
        seen.add(lease.instanceId);
        expect(session.instanceId).toBe(lease.instanceId);
        expect(session.device.id).toBe('cuda:0');
        const outputs = await session.run({ features: { data: input, dims: [6, 32] } });
        const scores = outputs.score!.data as Float32Array;
        for (let i = 0; i < expected.length; i++) expect(Math.abs(scores[i]! - expected[i]!)).toBeLessThan(1e-4);
        // No CUDA provider library in the CPU package: the session came up on CPU.
        expect(['cuda', 'cpu']).toContain(session.executionProvider);
        if (session.executionProvider === 'cpu') expect(session.fallbackReason).toBeTruthy();
      });
    }
    expect(seen.size).toBe(1);
  });

  it('closing the pool waits for a run in flight and closes the worker', async () => {
    const lease = await pool.acquire({ device: 'cpu' });
    const session = lease.service;
    const running = session.run({ features: { data: scorerInput(512, 32, 1), dims: [512, 32] } });
    await lease.release();
    await pool.close();
    await expect(running).resolves.toHaveProperty('score');
    expect(session.healthy).toBe(false);
  });
});

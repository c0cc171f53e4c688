import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceScore } from '../../scripts/generate-onnx-model';
import { runPipeline, type PipelineResult } from './pipeline';
import { FEATURES, featurize } from './features';

describe('ONNX document pipeline (real onnxruntime-node on CPU)', () => {
  let result: PipelineResult;

  beforeAll(async () => {
    result = await runPipeline({ documents: 300, instances: 2 });
  }, 120_000);
  afterAll(async () => {
    await result?.close();
  });

  it('scores every document through pooled sessions, and the scores are the model’s real outputs', async () => {
    const counts = await result.upkeep.countByStatus();
    expect(counts.COMPLETED).toBe(3);
    expect(counts.ERROR).toBe(0);
    const docs: Array<{ id: string; text: string; score: number | null }> = await result.dataSource.query('SELECT id, text, score FROM documents ORDER BY id');
    expect(docs).toHaveLength(300);
    expect(docs.every((d) => d.score !== null && d.score > 0 && d.score < 1)).toBe(true);
    // Compare with the same network computed in plain JavaScript.
    const sample = docs.filter((_, i) => i % 37 === 0);
    const input = new Float32Array(sample.length * FEATURES);
    sample.forEach((d, i) => featurize(d.text, input.subarray(i * FEATURES, (i + 1) * FEATURES)));
    const expected = referenceScore(result.weights, input);
    sample.forEach((d, i) => expect(d.score!).toBeCloseTo(expected[i]!, 4));
    // Scores differ between documents: the model is not a constant.
    expect(new Set(docs.map((d) => d.score!.toFixed(4))).size).toBeGreaterThan(10);
  });

  it('records device, service instance and metrics, and returns every session to the pool', async () => {
    const tasks: Array<{ assigned_device: string; service_instance_id: string; resource_cleanup_completed: number }> = await result.dataSource.query(
      'SELECT assigned_device, service_instance_id, resource_cleanup_completed FROM maintenance_tasks',
    );
    expect(tasks.every((t) => t.assigned_device === 'cpu' && t.service_instance_id && t.resource_cleanup_completed === 1)).toBe(true);
    expect(new Set(tasks.map((t) => t.service_instance_id)).size).toBeLessThanOrEqual(2); // pooled, not one per task
    const [{ n }] = await result.dataSource.query("SELECT COUNT(*) AS n FROM task_metrics WHERE processing_stage = 'infer'");
    expect(n).toBeGreaterThanOrEqual(3);
    const stats = result.pool.stats();
    expect(stats.totals.inUse).toBe(0);
    expect(stats.totals.size).toBeLessThanOrEqual(2);
    const metrics = await result.upkeep.metrics();
    expect(metrics.poolUtilization['document-scorer']).toMatchObject({ utilization: 0 });
    expect(await result.upkeep.prometheus()).toMatch(/upkeep_pool_utilization\{pool="document-scorer"\} 0/);
  });
});

import { describe, expect, it } from 'vitest';
import {
  createScorerWeights,
  encodeScorerModel,
  generateScorerModel,
  referenceScore,
  scorerInput,
  scorerParameterCount,
  scorerSizesForParams,
} from '../../../scripts/generate-onnx-model';
import { decodeOnnxModel } from '../../../scripts/onnx/onnx-proto';

describe('generate-onnx-model', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const a = generateScorerModel({ inputSize: 16, hiddenSize: 8, seed: 3 });
    const b = generateScorerModel({ inputSize: 16, hiddenSize: 8, seed: 3 });
    const c = generateScorerModel({ inputSize: 16, hiddenSize: 8, seed: 4 });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
  });

  it('writes an ONNX graph MatMul → Add → Relu → MatMul → Add → Sigmoid with the weights as raw data', () => {
    const weights = createScorerWeights({ inputSize: 16, hiddenSize: 8, seed: 3 });
    const decoded = decodeOnnxModel(encodeScorerModel(weights)) as {
      irVersion: number;
      opsetImport: { version: number }[];
      graph: {
        node: { opType: string }[];
        initializer: { name: string; dims: number[]; dataType: number; rawData: Uint8Array }[];
        input: { name: string }[];
        output: { name: string }[];
      };
    };
    expect(decoded.irVersion).toBe(7);
    expect(decoded.opsetImport[0]!.version).toBe(13);
    expect(decoded.graph.node.map((n) => n.opType)).toEqual(['MatMul', 'Add', 'Relu', 'MatMul', 'Add', 'Sigmoid']);
    expect(decoded.graph.input[0]!.name).toBe('features');
    expect(decoded.graph.output[0]!.name).toBe('score');
    const w1 = decoded.graph.initializer.find((t) => t.name === 'w1')!;
    expect(w1.dims).toEqual([16, 8]);
    expect(w1.dataType).toBe(1);
    const raw = w1.rawData;
    expect(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))).toEqual(weights.w1);
  });

  it('sizes a model from a parameter budget (≈3.7M for the bench)', () => {
    const sizes = scorerSizesForParams(3_700_000);
    const params = scorerParameterCount(sizes.inputSize, sizes.hiddenSize);
    expect(sizes.inputSize).toBe(1024);
    expect(Math.abs(params - 3_700_000) / 3_700_000).toBeLessThan(0.001);
  });

  it('computes reference scores in (0, 1) that depend on the input', () => {
    const weights = createScorerWeights({ inputSize: 16, hiddenSize: 8, seed: 3 });
    const scores = referenceScore(weights, scorerInput(5, 16));
    expect(scores).toHaveLength(5);
    for (const s of scores) expect(s > 0 && s < 1).toBe(true);
    expect(new Set(scores).size).toBeGreaterThan(1);
    expect(() => referenceScore(weights, new Float32Array(15))).toThrow(/multiple/);
  });
});

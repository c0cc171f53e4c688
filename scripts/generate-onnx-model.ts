/**
 * Generates a small, real ONNX model in code (no download is possible or needed): a document
 * scorer MLP `features [N, F] → MatMul+Add → Relu → MatMul+Add → Sigmoid → score [N, 1]` with
 * deterministic weights from a seeded PRNG, plus the same math in plain JavaScript so tests can
 * check ONNX Runtime's outputs.
 *
 * CLI:
 *   npx tsx scripts/generate-onnx-model.ts out.onnx                  # 64 → 32 → 1 (2,113 parameters)
 *   npx tsx scripts/generate-onnx-model.ts out.onnx --params 3700000 # ≈3.7M parameters (1024 → 3606 → 1)
 *   options: --input-size F, --hidden-size H, --seed S
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeOnnxModel, OnnxDataType, type OnnxTensor, type OnnxValueInfo } from './onnx/onnx-proto';

/** Sizes and seed of a scorer model. */
export interface ScorerModelOptions {
  /** Features per document (F). @defaultValue 64 */
  inputSize?: number;
  /** Units of the hidden layer (H). @defaultValue 32 */
  hiddenSize?: number;
  /** PRNG seed; the same seed gives the same weights, bit for bit. @defaultValue 42 */
  seed?: number;
}

/** Weights of a scorer model, row-major: `w1` is [F, H], `w2` is [H, 1]. */
export interface ScorerWeights {
  inputSize: number;
  hiddenSize: number;
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
}

/** Input and output names of the generated model. */
export const SCORER_INPUT_NAME = 'features';
export const SCORER_OUTPUT_NAME = 'score';

/** mulberry32: a tiny, fast, seeded PRNG returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** Parameter count of a scorer with these sizes: F·H + H + H + 1. */
export function scorerParameterCount(inputSize: number, hiddenSize: number): number {
  return inputSize * hiddenSize + hiddenSize + hiddenSize + 1;
}

/** Sizes for a scorer with about `params` parameters (F = 1024 unless given). */
export function scorerSizesForParams(params: number, inputSize = 1024): { inputSize: number; hiddenSize: number } {
  positiveInt(params, 'params');
  const hiddenSize = Math.max(1, Math.round((params - 1) / (inputSize + 2)));
  return { inputSize, hiddenSize };
}

/** Deterministic Glorot-uniform weights for a scorer. */
export function createScorerWeights(options: ScorerModelOptions = {}): ScorerWeights {
  const inputSize = positiveInt(options.inputSize ?? 64, 'inputSize');
  const hiddenSize = positiveInt(options.hiddenSize ?? 32, 'hiddenSize');
  const random = seededRandom(options.seed ?? 42);
  const uniform = (size: number, limit: number) => {
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = (random() * 2 - 1) * limit;
    return out;
  };
  return {
    inputSize,
    hiddenSize,
    w1: uniform(inputSize * hiddenSize, Math.sqrt(6 / (inputSize + hiddenSize))),
    b1: uniform(hiddenSize, 0.1),
    w2: uniform(hiddenSize, Math.sqrt(6 / (hiddenSize + 1))),
    b2: uniform(1, 0.1),
  };
}

function floatTensor(name: string, dims: number[], data: Float32Array): OnnxTensor {
  // raw_data is little-endian; every platform Node.js supports is little-endian, but be explicit.
  const bytes = new Uint8Array(data.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
  return { name, dataType: OnnxDataType.FLOAT, dims, rawData: bytes };
}

function floatValueInfo(name: string, dims: (number | string)[]): OnnxValueInfo {
  return {
    name,
    type: {
      tensorType: {
        elemType: OnnxDataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Encodes scorer weights as an ONNX model (IR 7, opset 13). */
export function encodeScorerModel(weights: ScorerWeights): Uint8Array {
  const { inputSize: f, hiddenSize: h } = weights;
  return encodeOnnxModel({
    irVersion: 7,
    producerName: 'upkeep-generate-onnx-model',
    producerVersion: '1',
    opsetImport: [{ domain: '', version: 13 }],
    docString: `document scorer MLP ${f} -> ${h} -> 1 (${scorerParameterCount(f, h)} parameters)`,
    graph: {
      name: 'document_scorer',
      node: [
        { name: 'dense1', opType: 'MatMul', input: [SCORER_INPUT_NAME, 'w1'], output: ['dense1_out'] },
        { name: 'bias1', opType: 'Add', input: ['dense1_out', 'b1'], output: ['bias1_out'] },
        { name: 'relu1', opType: 'Relu', input: ['bias1_out'], output: ['hidden'] },
        { name: 'dense2', opType: 'MatMul', input: ['hidden', 'w2'], output: ['dense2_out'] },
        { name: 'bias2', opType: 'Add', input: ['dense2_out', 'b2'], output: ['logit'] },
        { name: 'sigmoid', opType: 'Sigmoid', input: ['logit'], output: [SCORER_OUTPUT_NAME] },
      ],
      initializer: [
        floatTensor('w1', [f, h], weights.w1),
        floatTensor('b1', [h], weights.b1),
        floatTensor('w2', [h, 1], weights.w2),
        floatTensor('b2', [1], weights.b2),
      ],
      input: [floatValueInfo(SCORER_INPUT_NAME, ['batch', f])],
      output: [floatValueInfo(SCORER_OUTPUT_NAME, ['batch', 1])],
    },
    metadataProps: [{ key: 'parameters', value: String(scorerParameterCount(f, h)) }],
  });
}

/** Generates the ONNX bytes of a scorer model with deterministic weights. */
export function generateScorerModel(options: ScorerModelOptions = {}): Uint8Array {
  return encodeScorerModel(createScorerWeights(options));
}

/** Deterministic features in [-1, 1) for `batch` documents, row-major [batch, inputSize]. */
export function scorerInput(batch: number, inputSize: number, seed = 7): Float32Array {
  const random = seededRandom(seed);
  const out = new Float32Array(batch * inputSize);
  for (let i = 0; i < out.length; i++) out[i] = random() * 2 - 1;
  return out;
}

/** The scorer's math in plain JavaScript (float64 accumulation): one score per row of `input`. */
export function referenceScore(weights: ScorerWeights, input: Float32Array): Float32Array {
  const { inputSize: f, hiddenSize: h, w1, b1, w2, b2 } = weights;
  if (input.length % f !== 0) throw new Error(`input length ${input.length} is not a multiple of ${f}`);
  const batch = input.length / f;
  const scores = new Float32Array(batch);
  const hidden = new Float64Array(h);
  for (let n = 0; n < batch; n++) {
    for (let j = 0; j < h; j++) hidden[j] = b1[j]!;
    for (let i = 0; i < f; i++) {
      const x = input[n * f + i]!;
      const row = i * h;
      for (let j = 0; j < h; j++) hidden[j]! += x * w1[row + j]!;
    }
    let logit = b2[0]!;
    for (let j = 0; j < h; j++) logit += Math.max(0, hidden[j]!) * w2[j]!;
    scores[n] = 1 / (1 + Math.exp(-logit));
  }
  return scores;
}

function parseArgs(argv: string[]) {
  const positional: string[] = [];
  const flags: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith('--')) {
      const [key, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
      const value = inline ?? argv[++i];
      if (value === undefined) throw new Error(`--${key} needs a value`);
      flags[key] = value;
    } else positional.push(arg);
  }
  return { positional, flags };
}

function main(argv: string[]): void {
  const { positional, flags } = parseArgs(argv);
  const out = positional[0];
  if (!out) {
    console.error('usage: npx tsx scripts/generate-onnx-model.ts <out.onnx> [--params N | --input-size F --hidden-size H] [--seed S]');
    process.exitCode = 2;
    return;
  }
  const num = (key: string) => (flags[key] === undefined ? undefined : Number(flags[key]));
  const sizes = flags.params
    ? scorerSizesForParams(num('params')!, num('input-size'))
    : { inputSize: num('input-size'), hiddenSize: num('hidden-size') };
  const weights = createScorerWeights({ ...sizes, seed: num('seed') });
  const bytes = encodeScorerModel(weights);
  const path = resolve(out);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
  const params = scorerParameterCount(weights.inputSize, weights.hiddenSize);
  console.log(
    `wrote ${path}: ${weights.inputSize} -> ${weights.hiddenSize} -> 1, ${params.toLocaleString('en-US')} parameters, ${(bytes.length / 1e6).toFixed(1)} MB`,
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));

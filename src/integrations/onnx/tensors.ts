import { InvalidArgumentError } from '../../core/errors';
import type { OrtModule, OrtTensor } from './load-onnxruntime';
import type { OnnxFeeds, OnnxOutputs, OnnxTensorArray, OnnxTensorData, OnnxTensorType } from './onnx-types';

const TYPE_OF_ARRAY = new Map<unknown, OnnxTensorType>([
  [Float32Array, 'float32'],
  [Float64Array, 'float64'],
  [Int8Array, 'int8'],
  [Uint8Array, 'uint8'],
  [Int16Array, 'int16'],
  [Uint16Array, 'uint16'],
  [Int32Array, 'int32'],
  [Uint32Array, 'uint32'],
  [BigInt64Array, 'int64'],
  [BigUint64Array, 'uint64'],
]);

const KNOWN_TYPES = new Set<string>([...TYPE_OF_ARRAY.values(), 'float16', 'bool', 'string']);

/**
 * Checks and normalises the feeds of one inference into plain, cloneable tensors. A view over a
 * larger buffer is copied to its own buffer, because posting a typed array to a worker copies its
 * whole underlying buffer.
 */
export function normalizeFeeds(feeds: OnnxFeeds, inputNames: readonly string[]): Record<string, OnnxTensorData> {
  if (typeof feeds !== 'object' || feeds === null) throw new InvalidArgumentError('feeds must be an object of tensors by input name');
  const out: Record<string, OnnxTensorData> = {};
  for (const name of Object.keys(feeds)) {
    if (!inputNames.includes(name)) {
      throw new InvalidArgumentError(`unknown input "${name}"; the model's inputs are ${inputNames.map((n) => `"${n}"`).join(', ')}`);
    }
    out[name] = normalizeTensor(name, feeds[name]!);
  }
  const missing = inputNames.filter((name) => !(name in out));
  if (missing.length > 0) throw new InvalidArgumentError(`missing input ${missing.map((n) => `"${n}"`).join(', ')}`);
  return out;
}

function normalizeTensor(name: string, tensor: OnnxFeeds[string]): OnnxTensorData {
  if (typeof tensor !== 'object' || tensor === null) throw new InvalidArgumentError(`input "${name}" must be a tensor ({ type, data, dims })`);
  // Read through the getters: an onnxruntime-node Tensor keeps `data` on its prototype.
  const { data, dims, type } = tensor;
  if (!Array.isArray(dims) || !dims.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new InvalidArgumentError(`input "${name}" needs dims as an array of non-negative integers`);
  }
  const isStrings = Array.isArray(data);
  if (!isStrings && !ArrayBuffer.isView(data)) throw new InvalidArgumentError(`input "${name}" needs data as a typed array or string[]`);
  const inferred = isStrings ? 'string' : TYPE_OF_ARRAY.get((data as object).constructor);
  const resolvedType = type ?? inferred;
  if (resolvedType === undefined || !KNOWN_TYPES.has(resolvedType)) {
    throw new InvalidArgumentError(`input "${name}" has an unknown or missing tensor type (${String(resolvedType)})`);
  }
  const length = isStrings ? (data as unknown[]).length : (data as unknown as { length: number }).length;
  const expected = dims.reduce((a, b) => a * b, 1);
  if (length !== expected) {
    throw new InvalidArgumentError(`input "${name}" has ${length} elements but dims [${dims.join(', ')}] need ${expected}`);
  }
  let array = data as OnnxTensorArray;
  if (!isStrings) {
    const view = data as ArrayBufferView;
    if (view.byteOffset !== 0 || view.byteLength !== view.buffer.byteLength) array = (data as Float32Array).slice() as OnnxTensorArray;
  } else {
    array = [...(data as string[])];
  }
  return { type: resolvedType as OnnxTensorType, data: array, dims: [...dims] };
}

/** Builds runtime tensors from plain ones (inside the thread that owns the session). */
export function toOrtFeeds(ort: OrtModule, feeds: Record<string, OnnxTensorData>): Record<string, OrtTensor> {
  const out: Record<string, OrtTensor> = {};
  for (const [name, tensor] of Object.entries(feeds)) out[name] = new ort.Tensor(tensor.type, tensor.data, tensor.dims);
  return out;
}

/** Turns runtime output tensors into plain, cloneable ones. */
export function fromOrtOutputs(outputs: Record<string, OrtTensor>): OnnxOutputs {
  const out: OnnxOutputs = {};
  for (const [name, tensor] of Object.entries(outputs)) {
    out[name] = { type: tensor.type as OnnxTensorType, data: tensor.data as OnnxTensorArray, dims: [...tensor.dims] };
  }
  return out;
}

/**
 * Buffers of `tensors` that can be transferred (moved, not copied) to another thread: each typed
 * array that owns its whole, non-shared buffer, each buffer once.
 */
export function transferableBuffers(tensors: Record<string, OnnxTensorData>): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const tensor of Object.values(tensors)) {
    const data = tensor.data;
    if (!ArrayBuffer.isView(data)) continue;
    const buffer = data.buffer;
    if (!(buffer instanceof ArrayBuffer)) continue; // SharedArrayBuffer: nothing to move
    if (data.byteOffset === 0 && data.byteLength === buffer.byteLength) buffers.add(buffer);
  }
  return [...buffers];
}

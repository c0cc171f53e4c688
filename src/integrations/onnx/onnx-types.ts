/** Element types ONNX Runtime for Node.js reads and writes. */
export type OnnxTensorType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool'
  | 'string';

/** Typed arrays (or strings) that hold tensor data. */
export type OnnxTensorArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | string[];

/**
 * A tensor as plain data: what `run` returns, and what it accepts. An `onnxruntime-node`
 * `Tensor` has this shape too and can be passed directly.
 */
export interface OnnxTensorData {
  type: OnnxTensorType;
  data: OnnxTensorArray;
  dims: number[];
}

/**
 * One input of `run`. `type` may be left out for typed arrays (`Float32Array` is `'float32'`,
 * `BigInt64Array` is `'int64'`, ...); it is required for `bool`, `float16` and `string` data.
 */
export interface OnnxTensorInput {
  readonly type?: OnnxTensorType | string;
  readonly data: OnnxTensorArray | ArrayBufferView | readonly string[];
  readonly dims: readonly number[];
}

/** Inputs of one inference, by input name. */
export type OnnxFeeds = Record<string, OnnxTensorInput>;

/** Outputs of one inference, by output name. */
export type OnnxOutputs = Record<string, OnnxTensorData>;

/** Name, element type and shape of one model input or output (`string` entries are symbolic dims). */
export interface OnnxValueMetadata {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: (number | string)[];
}

/** Execution provider a session ended up on. */
export type OnnxExecutionProvider = 'cuda' | 'cpu';

/**
 * ONNX Runtime session options passed through to `InferenceSession.create` (a plain, cloneable
 * object: it crosses into the worker thread). `executionProviders`, `intraOpNumThreads` and
 * `interOpNumThreads` are set by the factory and override what is given here.
 */
export interface OnnxSessionOptions {
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'layout' | 'all';
  executionMode?: 'sequential' | 'parallel';
  enableCpuMemArena?: boolean;
  enableMemPattern?: boolean;
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  logId?: string;
  /** Free-form `session.options` config entries, e.g. `{ session: { intra_op: { allow_spinning: '0' } } }`. */
  extra?: Record<string, unknown>;
  [option: string]: unknown;
}

/** What a session reported once open: its provider and its inputs and outputs. */
export interface SessionInfo {
  executionProvider: OnnxExecutionProvider;
  /** Why CUDA was not used although the device is a GPU (the provider's load error). */
  fallbackReason?: string;
  inputNames: string[];
  outputNames: string[];
  inputMetadata: OnnxValueMetadata[];
  outputMetadata: OnnxValueMetadata[];
}

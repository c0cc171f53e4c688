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
  /** Element type of the tensor. */
  type: OnnxTensorType;
  /** The tensor's elements, row-major. */
  data: OnnxTensorArray;
  /** Shape of the tensor. */
  dims: number[];
}

/**
 * One input of `run`. `type` may be left out for typed arrays (`Float32Array` is `'float32'`,
 * `BigInt64Array` is `'int64'`, ...); it is required for `bool`, `float16` and `string` data.
 */
export interface OnnxTensorInput {
  /** Element type; inferred from `data` when left out. */
  readonly type?: OnnxTensorType | string;
  /** The elements, row-major. */
  readonly data: OnnxTensorArray | ArrayBufferView | readonly string[];
  /** Shape of the tensor. */
  readonly dims: readonly number[];
}

/** Inputs of one inference, by input name. */
export type OnnxFeeds = Record<string, OnnxTensorInput>;

/** Outputs of one inference, by output name. */
export type OnnxOutputs = Record<string, OnnxTensorData>;

/** Name, element type and shape of one model input or output (`string` entries are symbolic dims). */
export interface OnnxValueMetadata {
  /** Input or output name. */
  name: string;
  /** False for non-tensor values (sequences, maps). */
  isTensor: boolean;
  /** Element type, when the model declares it. */
  type?: string;
  /** Declared shape; strings are symbolic dimensions. */
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
  /** ONNX Runtime graph optimisation level. */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'layout' | 'all';
  /** Run operators one after another or in parallel. */
  executionMode?: 'sequential' | 'parallel';
  /** Use ONNX Runtime's CPU memory arena. */
  enableCpuMemArena?: boolean;
  /** Pre-plan memory from the first run's allocation pattern. */
  enableMemPattern?: boolean;
  /** ONNX Runtime log level (0 verbose … 4 fatal). */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /** Tag of this session's ONNX Runtime log lines. */
  logId?: string;
  /** Free-form `session.options` config entries, e.g. `{ session: { intra_op: { allow_spinning: '0' } } }`. */
  extra?: Record<string, unknown>;
  [option: string]: unknown;
}

/** What a session reported once open: its provider and its inputs and outputs. */
export interface SessionInfo {
  /** Provider the session runs on (`'cuda'` or `'cpu'`). */
  executionProvider: OnnxExecutionProvider;
  /** Why CUDA was not used although the device is a GPU (the provider's load error). */
  fallbackReason?: string;
  /** Model input names. */
  inputNames: string[];
  /** Model output names. */
  outputNames: string[];
  /** Declared inputs. */
  inputMetadata: OnnxValueMetadata[];
  /** Declared outputs. */
  outputMetadata: OnnxValueMetadata[];
}

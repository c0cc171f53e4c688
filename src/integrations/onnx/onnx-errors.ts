import {
  DeviceUnavailableError,
  InvalidArgumentError,
  MissingPeerDependencyError,
  OutOfMemoryError,
  PoolClosedError,
  type UpkeepError,
} from '../../core/errors';

/**
 * Messages ONNX Runtime, CUDA and its libraries use when an allocation fails. Kept narrow on
 * purpose: a false positive would make the out-of-memory handler shrink batches for nothing.
 */
const OUT_OF_MEMORY_PATTERNS: readonly RegExp[] = [
  /failed to allocate memory/i, // ORT allocators ("Failed to allocate memory for requested buffer of size ...")
  /\bout of memory\b/i, // "CUDA failure 2: out of memory", "CUDA error: out of memory"
  /\bbad_alloc\b/i, // std::bad_alloc from any CPU allocation
  /cudaErrorMemoryAllocation|CUDA_ERROR_OUT_OF_MEMORY/,
  /_STATUS_ALLOC_FAILED|CUFFT_ALLOC_FAILED/, // CUBLAS_/CUDNN_/CUSPARSE_/CUSOLVER_STATUS_ALLOC_FAILED
  /available memory of \d+ is smaller than requested bytes/i, // BFCArena::AllocateRawInternal
  /\bMemoryError\b/, // Python-hosted runtimes forwarding the message
];

const MAX_CAUSE_DEPTH = 8;

/**
 * True when `error` (or any error in its `cause` chain) is an out-of-memory failure from ONNX
 * Runtime, CUDA or cuBLAS/cuDNN, or upkeep's own `OutOfMemoryError`. Accepts errors, strings and
 * error-like objects, so it also recognises messages that crossed a thread boundary.
 */
export function isOnnxOutOfMemoryError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && current != null; depth++) {
    if (typeof current === 'string') return OUT_OF_MEMORY_PATTERNS.some((p) => p.test(current as string));
    if (typeof current !== 'object') return false;
    const { code, message, cause } = current as { code?: unknown; message?: unknown; cause?: unknown };
    if (code === 'OUT_OF_MEMORY' || code === 'ERR_WORKER_OUT_OF_MEMORY' || code === 'ERR_MEMORY_ALLOCATION_FAILED') return true;
    if (typeof message === 'string' && OUT_OF_MEMORY_PATTERNS.some((p) => p.test(message))) return true;
    current = cause;
  }
  return false;
}

/** An error as it crosses between the inference worker and the main thread. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, stack: error.stack, code: typeof code === 'string' ? code : undefined };
  }
  return { name: 'Error', message: String(error) };
}

/** Rebuilds the error in the calling thread; upkeep's own errors come back as their classes. */
export function deserializeError(serialized: SerializedError): Error {
  const original = Object.assign(new Error(serialized.message), { name: serialized.name });
  if (serialized.stack) original.stack = serialized.stack;
  if (serialized.code) Object.assign(original, { code: serialized.code });
  let rebuilt: UpkeepError | undefined;
  switch (serialized.code) {
    case 'MISSING_PEER_DEPENDENCY':
      rebuilt = new MissingPeerDependencyError(serialized.message);
      break;
    case 'DEVICE_UNAVAILABLE':
      rebuilt = new DeviceUnavailableError(serialized.message);
      break;
    case 'INVALID_ARGUMENT':
      rebuilt = new InvalidArgumentError(serialized.message);
      break;
    case 'POOL_CLOSED':
      rebuilt = new PoolClosedError(serialized.message);
      break;
    case 'OUT_OF_MEMORY':
      rebuilt = new OutOfMemoryError(serialized.message);
      break;
    default:
      return original;
  }
  // Keep the worker-side stack: it says where the failure happened.
  if (serialized.stack) rebuilt.stack = serialized.stack;
  return rebuilt;
}

/**
 * Wraps an ONNX Runtime failure that `isOnnxOutOfMemoryError` recognises in upkeep's
 * `OutOfMemoryError` (the runtime's error as `cause`), so the out-of-memory handler and the
 * `OUT_OF_MEMORY` failure reason apply; other errors pass through unchanged.
 */
export function toOutOfMemoryError(error: unknown, deviceId: string): unknown {
  if (!isOnnxOutOfMemoryError(error) || (error as { code?: unknown })?.code === 'OUT_OF_MEMORY') return error;
  const message = error instanceof Error ? error.message : String(error);
  return new OutOfMemoryError(`ONNX Runtime ran out of memory on ${deviceId}: ${message}`, { cause: error });
}

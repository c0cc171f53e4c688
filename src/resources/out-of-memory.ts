import { isUpkeepError, OutOfMemoryError } from '../core/errors';

/**
 * Messages of allocation failures from ONNX Runtime, CUDA/cuBLAS/cuDNN, PyTorch-style
 * runtimes and V8. Matched case-insensitively against the error and its causes.
 */
const OOM_PATTERNS: readonly RegExp[] = [
  /out of memory/i,
  /failed to allocate memory/i,
  /\bbad_alloc\b/i,
  /CUBLAS_STATUS_ALLOC_FAILED/i,
  /CUDNN_STATUS_ALLOC_FAILED/i,
  /cudaErrorMemoryAllocation/i,
  /CUDA failure 2\b/i,
  /Array buffer allocation failed/i,
  /Allocation failed - JavaScript heap/i,
  /Cannot allocate memory/i,
  /ENOMEM/,
];

/**
 * True when `error` (or one of its causes) is an out-of-memory failure: upkeep's own
 * `OutOfMemoryError`, or an error whose message matches a known allocation failure.
 */
export function isOutOfMemoryError(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && !seen.has(current)) {
    seen.add(current);
    if (current instanceof OutOfMemoryError || (isUpkeepError(current) && current.code === 'OUT_OF_MEMORY')) return true;
    const message = current instanceof Error ? current.message : typeof current === 'string' ? current : '';
    const code = (current as { code?: unknown }).code;
    if (code === 'ENOMEM' || code === 'ERR_MEMORY_ALLOCATION_FAILED') return true;
    if (message && OOM_PATTERNS.some((p) => p.test(message))) return true;
    current = current instanceof Error ? current.cause : undefined;
  }
  return false;
}

/** Memory of this process in MiB (what an out-of-memory event records). */
export function processMemoryMb(): { rssMb: number; heapUsedMb: number; heapTotalMb: number; externalMb: number; arrayBuffersMb: number } {
  const m = process.memoryUsage();
  const mb = (n: number) => Math.round(n / 1048576);
  return { rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), heapTotalMb: mb(m.heapTotal), externalMb: mb(m.external), arrayBuffersMb: mb(m.arrayBuffers) };
}

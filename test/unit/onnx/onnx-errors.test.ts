import { describe, expect, it } from 'vitest';
import { MissingPeerDependencyError, OutOfMemoryError } from '../../../src/core/errors';
import { isOnnxOutOfMemoryError, loadOnnxRuntime } from '../../../src/integrations/onnx';
import { deserializeError, serializeError, toOutOfMemoryError } from '../../../src/integrations/onnx/onnx-errors';

describe('isOnnxOutOfMemoryError', () => {
  it.each([
    'Failed to allocate memory for requested buffer of size 268435456',
    '[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running MatMul node. Name:\'dense1\' Status Message: /onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:376 void* onnxruntime::BFCArena::AllocateRawInternal(size_t, bool, onnxruntime::Stream*, bool, onnxruntime::WaitNotificationFn) Failed to allocate memory for requested buffer of size 4294967296',
    'CUDA failure 2: out of memory ; GPU=0 ; hostname=gpu-1 ; file=cuda_allocator.cc ; line=47 ; expr=cudaMalloc((void**)&p, size);',
    'CUDA error cudaErrorMemoryAllocation:out of memory',
    'std::bad_alloc',
    'CUBLAS failure 3: CUBLAS_STATUS_ALLOC_FAILED ; GPU=0',
    'CUDNN failure 2: CUDNN_STATUS_ALLOC_FAILED',
    'Available memory of 1048576 is smaller than requested bytes of 4194304',
  ])('recognises %s', (message) => {
    expect(isOnnxOutOfMemoryError(new Error(message))).toBe(true);
    expect(isOnnxOutOfMemoryError(message)).toBe(true);
    expect(isOnnxOutOfMemoryError({ message })).toBe(true);
  });

  it.each([
    'Got invalid dimensions for input: features for the following indices index: 1 Got: 3 Expected: 64',
    'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library',
    'Load model from x.onnx failed: No such file or directory',
    'memory_limit_exceeded is configured',
  ])('does not recognise %s', (message) => {
    expect(isOnnxOutOfMemoryError(new Error(message))).toBe(false);
  });

  it('recognises upkeep OutOfMemoryError, causes and non-errors', () => {
    expect(isOnnxOutOfMemoryError(new OutOfMemoryError('batch too big'))).toBe(true);
    expect(isOnnxOutOfMemoryError(new Error('inference failed', { cause: new Error('CUDA failure 2: out of memory') }))).toBe(true);
    const workerDied = Object.assign(new Error('Worker terminated due to reaching memory limit: JS heap out of memory'), {
      code: 'ERR_WORKER_OUT_OF_MEMORY',
    });
    expect(isOnnxOutOfMemoryError(new Error('the inference worker died', { cause: workerDied }))).toBe(true);
    expect(isOnnxOutOfMemoryError(Object.assign(new Error('x'), { code: 'ERR_WORKER_OUT_OF_MEMORY' }))).toBe(true);
    expect(isOnnxOutOfMemoryError(undefined)).toBe(false);
    expect(isOnnxOutOfMemoryError(null)).toBe(false);
    expect(isOnnxOutOfMemoryError(42)).toBe(false);
  });

  it('wraps recognised runtime errors in OutOfMemoryError and leaves others alone', () => {
    const runtime = new Error('Failed to allocate memory for requested buffer of size 1024');
    const wrapped = toOutOfMemoryError(runtime, 'cuda:1');
    expect(wrapped).toBeInstanceOf(OutOfMemoryError);
    expect((wrapped as OutOfMemoryError).code).toBe('OUT_OF_MEMORY');
    expect((wrapped as Error).message).toContain('cuda:1');
    expect((wrapped as Error).cause).toBe(runtime);
    const other = new Error('shape mismatch');
    expect(toOutOfMemoryError(other, 'cpu')).toBe(other);
  });

  it('carries upkeep errors across the thread boundary as their classes', () => {
    const back = deserializeError(serializeError(new MissingPeerDependencyError('npm install onnxruntime-node')));
    expect(back).toBeInstanceOf(MissingPeerDependencyError);
    const plain = deserializeError(serializeError(new TypeError('bad')));
    expect(plain.name).toBe('TypeError');
    expect(plain.message).toBe('bad');
  });
});

describe('loadOnnxRuntime', () => {
  it('throws MissingPeerDependencyError with the install command when the package is missing', async () => {
    const importer = async (specifier: string) => {
      throw Object.assign(new Error(`Cannot find package '${specifier}' imported from /app/index.js`), { code: 'ERR_MODULE_NOT_FOUND' });
    };
    const error = await loadOnnxRuntime('onnxruntime-node', importer).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingPeerDependencyError);
    expect((error as MissingPeerDependencyError).code).toBe('MISSING_PEER_DEPENDENCY');
    expect((error as Error).message).toContain('npm install onnxruntime-node');
  });

  it('recognises the CommonJS "Cannot find module" form too', async () => {
    const importer = async () => {
      throw Object.assign(new Error("Cannot find module 'onnxruntime-node'\nRequire stack:\n- /app/index.cjs"), { code: 'MODULE_NOT_FOUND' });
    };
    await expect(loadOnnxRuntime('onnxruntime-node', importer)).rejects.toThrow(MissingPeerDependencyError);
  });

  it('passes other load failures through (a broken install is not a missing peer)', async () => {
    const broken = Object.assign(new Error("Cannot find module 'onnxruntime-common'"), { code: 'MODULE_NOT_FOUND' });
    await expect(loadOnnxRuntime('onnxruntime-node', async () => Promise.reject(broken))).rejects.toBe(broken);
  });

  it('rejects a module that is not ONNX Runtime', async () => {
    await expect(loadOnnxRuntime('not-ort', async () => ({ default: {} }))).rejects.toThrow(MissingPeerDependencyError);
  });

  it('accepts the ESM namespace of the CommonJS package', async () => {
    const fake = { InferenceSession: { create: async () => ({}) }, Tensor: class {} };
    await expect(loadOnnxRuntime('onnxruntime-node', async () => ({ default: fake }))).resolves.toBe(fake);
  });
});

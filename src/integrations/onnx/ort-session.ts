import { DeviceUnavailableError } from '../../core/errors';
import { isOnnxOutOfMemoryError, toOutOfMemoryError } from './onnx-errors';
import type { OrtModule, OrtSession } from './load-onnxruntime';
import type { OnnxExecutionProvider, OnnxSessionOptions, OnnxValueMetadata, SessionInfo } from './onnx-types';

/** Where and how to open a session; plain data, so it can be posted to a worker. */
export interface SessionSpec {
  model: string | Uint8Array;
  deviceId: string;
  deviceKind: 'cpu' | 'cuda';
  /** CUDA ordinal for `deviceKind: 'cuda'`. */
  cudaDeviceId: number;
  cudaFallbackToCpu: boolean;
  intraOpNumThreads: number;
  interOpNumThreads: number;
  sessionOptions: OnnxSessionOptions;
}

/** An open session and what it ended up on. */
export interface OpenedSession extends SessionInfo {
  session: OrtSession;
}

function metadata(names: readonly string[], raw: readonly unknown[] | undefined): OnnxValueMetadata[] {
  return names.map((name, i) => {
    const m = (raw?.[i] ?? {}) as { isTensor?: boolean; type?: string; shape?: (number | string)[] };
    return { name, isTensor: m.isTensor ?? true, type: m.type, shape: m.shape ? [...m.shape] : undefined };
  });
}

/**
 * Opens a session on the device of `spec`. For a CUDA device it asks for the CUDA execution
 * provider with the device's ordinal (and CPU for the operators CUDA lacks). ONNX Runtime for
 * Node.js throws when the CUDA provider library cannot be loaded instead of falling back, so the
 * fallback to CPU happens here, when allowed, and is recorded in `fallbackReason`.
 */
export async function openOrtSession(ort: OrtModule, spec: SessionSpec): Promise<OpenedSession> {
  const base: Record<string, unknown> = {
    ...spec.sessionOptions,
    intraOpNumThreads: spec.intraOpNumThreads,
    interOpNumThreads: spec.interOpNumThreads,
  };
  let executionProvider: OnnxExecutionProvider = 'cpu';
  let fallbackReason: string | undefined;
  let session: OrtSession | undefined;
  if (spec.deviceKind === 'cuda') {
    try {
      session = await ort.InferenceSession.create(spec.model, {
        ...base,
        executionProviders: [{ name: 'cuda', deviceId: spec.cudaDeviceId }, 'cpu'],
      });
      executionProvider = 'cuda';
    } catch (error) {
      // Out of GPU memory is not "the provider cannot load": a CPU session on a GPU slot would
      // hide it. Fail the create (the pool backs off; the task's OOM handling sees it).
      if (isOnnxOutOfMemoryError(error)) throw toOutOfMemoryError(error, spec.deviceId);
      const reason = error instanceof Error ? error.message : String(error);
      if (!spec.cudaFallbackToCpu) {
        throw new DeviceUnavailableError(
          `the CUDA execution provider could not open the model on ${spec.deviceId} and cudaFallbackToCpu is off: ${reason}`,
          { cause: error },
        );
      }
      fallbackReason = reason;
    }
  }
  session ??= await ort.InferenceSession.create(spec.model, { ...base, executionProviders: ['cpu'] });
  return {
    session,
    executionProvider,
    fallbackReason,
    inputNames: [...session.inputNames],
    outputNames: [...session.outputNames],
    inputMetadata: metadata(session.inputNames, session.inputMetadata),
    outputMetadata: metadata(session.outputNames, session.outputMetadata),
  };
}

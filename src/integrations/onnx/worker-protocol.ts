import type { SerializedError } from './onnx-errors';
import type { OnnxOutputs, OnnxTensorData, SessionInfo } from './onnx-types';
import type { SessionSpec } from './ort-session';

/** `workerData` of an inference worker. */
export interface InferenceWorkerData {
  spec: SessionSpec;
  /** Module to load ONNX Runtime from. */
  runtimeModule: string;
}

/** Main thread → worker. */
export type ToWorker =
  | { type: 'run'; id: number; feeds: Record<string, OnnxTensorData>; fetches?: string[] }
  | { type: 'close' };

/** Worker → main thread. */
export type FromWorker =
  | ({ type: 'ready' } & SessionInfo)
  | { type: 'open-failed'; error: SerializedError }
  | { type: 'result'; id: number; outputs: OnnxOutputs; durationMs: number }
  | { type: 'run-failed'; id: number; error: SerializedError }
  | { type: 'closed' };

/**
 * `upkeep/onnx`: ONNX Runtime sessions as pooled services. Importing this entry loads nothing
 * from `onnxruntime-node`; the runtime is loaded when the first session is created.
 */
export { createOnnxSession, createOnnxSessionFactory, defaultIntraOpThreads } from './onnx-session-factory';
export type { CreateOnnxSessionOptions, OnnxSessionFactory, OnnxSessionFactoryOptions } from './onnx-session-factory';
export { OnnxSessionService } from './onnx-session-service';
export type { OnnxRunOptions, OnnxSessionStats } from './onnx-session-service';
export { isOnnxOutOfMemoryError } from './onnx-errors';
export { loadOnnxRuntime } from './load-onnxruntime';
export type {
  OnnxExecutionProvider,
  OnnxFeeds,
  OnnxOutputs,
  OnnxSessionOptions,
  OnnxTensorArray,
  OnnxTensorData,
  OnnxTensorInput,
  OnnxTensorType,
  OnnxValueMetadata,
} from './onnx-types';
export type { DeviceInfo, CreateContext, ServiceFactory } from '../../pool';

import { existsSync, statSync } from 'node:fs';
import { availableParallelism, freemem, totalmem } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { InvalidArgumentError } from '../../core/errors';
import { InProcessBackend, WorkerBackend, type InferenceBackend } from './inference-backends';
import { DEFAULT_RUNTIME_MODULE } from './load-onnxruntime';
import { OnnxSessionService } from './onnx-session-service';
import type { OnnxSessionOptions } from './onnx-types';
import type { SessionSpec } from './ort-session';
import type { DeviceInfo, CreateContext, ServiceFactory } from '../../pool';
import { resolveInferenceWorker, type WorkerLaunch } from './worker-location';

/** Options of {@link createOnnxSessionFactory}. */
export interface OnnxSessionFactoryOptions {
  /** The model: a path to an `.onnx` file, or its bytes. */
  model: string | Uint8Array;
  /** Passed to `InferenceSession.create` (providers and thread counts are set by the factory). */
  sessionOptions?: OnnxSessionOptions;
  /**
   * Threads one session uses inside an operator.
   * @defaultValue `max(1, floor(os.availableParallelism() / expectedInstances))`
   */
  intraOpNumThreads?: number;
  /** Threads one session uses across independent operators. @defaultValue 1 */
  interOpNumThreads?: number;
  /**
   * Sessions expected to run at once on this host (the pool's maximum instances); the default
   * thread count divides the cores among them so they do not oversubscribe the CPU. @defaultValue 1
   */
  expectedInstances?: number;
  /**
   * Memory one session takes on a device, in MiB, for the pool's placement.
   * @defaultValue twice the model's size plus 32 MiB (weights, arena and runtime overhead)
   */
  memoryMb?: number | ((device: DeviceInfo) => number);
  /** Run each session in its own worker thread, so inference never blocks the event loop. @defaultValue true */
  useWorkerThread?: boolean;
  /** When the CUDA provider cannot open the model on a GPU device, open it on CPU instead of failing. @defaultValue true */
  cudaFallbackToCpu?: boolean;
  /** Longest `close()` waits for in-flight runs before it terminates the worker. @defaultValue 30_000 */
  closeTimeoutMs?: number;
  /** Module to load ONNX Runtime from (a build with the same API). @defaultValue 'onnxruntime-node' */
  runtimeModule?: string;
  /**
   * Path or URL of the inference worker file, when upkeep was bundled and the worker is not next
   * to it. @defaultValue `inference-worker.{js,cjs}` beside this module
   */
  workerUrl?: string | URL;
}

/** A `ServiceFactory` of ONNX Runtime sessions, ready for `new ServicePool(...)`. */
export interface OnnxSessionFactory extends ServiceFactory<OnnxSessionService> {
  /** Opens a session on `device` (its worker thread, providers and thread counts). */
  create(device: DeviceInfo, ctx: CreateContext): Promise<OnnxSessionService>;
  /** Waits for in-flight runs, then releases the session and its worker. */
  destroy(service: OnnxSessionService): Promise<void>;
  /** False once the service was closed, its worker died, or it is still executing runs (`busy`). */
  validate(service: OnnxSessionService): boolean;
  /** Memory one session takes, for the pool's accounting. */
  memoryMb: number | ((device: DeviceInfo) => number);
  /** Threads inside one operator each session uses. */
  readonly intraOpNumThreads: number;
  /** Threads across operators each session uses. */
  readonly interOpNumThreads: number;
}

const OPTION_KEYS = new Set<keyof OnnxSessionFactoryOptions>([
  'model',
  'sessionOptions',
  'intraOpNumThreads',
  'interOpNumThreads',
  'expectedInstances',
  'memoryMb',
  'useWorkerThread',
  'cudaFallbackToCpu',
  'closeTimeoutMs',
  'runtimeModule',
  'workerUrl',
]);

const MIB = 1024 * 1024;

function positiveInt(value: unknown, key: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${key} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function optionalBoolean(value: unknown, key: string): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw new InvalidArgumentError(`${key} must be a boolean, got ${String(value)}`);
  return value;
}

/** Default intra-op threads: the cores shared among the sessions expected to run at once. */
export function defaultIntraOpThreads(expectedInstances = 1, cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / Math.max(1, expectedInstances)));
}

/** CUDA ordinal of a device: its `index`, else the number in `cuda:N`, else 0. */
function cudaOrdinal(device: DeviceInfo): number {
  if (Number.isInteger(device.index) && device.index! >= 0) return device.index!;
  const match = /^cuda:(\d+)$/.exec(device.id);
  return match ? Number(match[1]) : 0;
}

/**
 * Makes ONNX Runtime sessions pooled services. Each `create(device)` opens one session: with the
 * CUDA execution provider and the device's ordinal on a `'cuda'` device (falling back to CPU when
 * the provider cannot load, if allowed; `service.executionProvider` says which one runs), with the
 * CPU provider otherwise. By default the session lives in a worker thread of its own, so inference
 * does not block the event loop; `destroy` waits for in-flight runs before it closes the worker.
 * `onnxruntime-node` is loaded only when a session is created.
 *
 * ```ts
 * const pool = new ServicePool({ factory: createOnnxSessionFactory({ model: 'scorer.onnx' }), ... });
 * await pool.use({ device: 'auto' }, (session) => session.run({ features: { type: 'float32', data, dims: [n, 64] } }));
 * ```
 */
export function createOnnxSessionFactory(options: OnnxSessionFactoryOptions): OnnxSessionFactory {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('createOnnxSessionFactory needs an options object');
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key as keyof OnnxSessionFactoryOptions)) throw new InvalidArgumentError(`createOnnxSessionFactory: unknown option "${key}"`);
  }
  const { model, sessionOptions = {} } = options;
  let modelBytes: number;
  let modelSource: string | Uint8Array;
  if (typeof model === 'string') {
    modelSource = resolvePath(model);
    if (!existsSync(modelSource) || !statSync(modelSource).isFile()) throw new InvalidArgumentError(`model: no file at ${modelSource}`);
    modelBytes = statSync(modelSource).size;
  } else if (model instanceof Uint8Array) {
    if (model.byteLength === 0) throw new InvalidArgumentError('model: the byte array is empty');
    modelSource = model;
    modelBytes = model.byteLength;
  } else {
    throw new InvalidArgumentError('model must be a path to an .onnx file or its bytes (Uint8Array)');
  }
  if (typeof sessionOptions !== 'object' || sessionOptions === null) throw new InvalidArgumentError('sessionOptions must be an object');
  const expectedInstances = positiveInt(options.expectedInstances, 'expectedInstances') ?? 1;
  const intraOpNumThreads = positiveInt(options.intraOpNumThreads, 'intraOpNumThreads') ?? defaultIntraOpThreads(expectedInstances);
  const interOpNumThreads = positiveInt(options.interOpNumThreads, 'interOpNumThreads') ?? 1;
  const closeTimeoutMs = positiveInt(options.closeTimeoutMs, 'closeTimeoutMs') ?? 30_000;
  const useWorkerThread = optionalBoolean(options.useWorkerThread, 'useWorkerThread') ?? true;
  const cudaFallbackToCpu = optionalBoolean(options.cudaFallbackToCpu, 'cudaFallbackToCpu') ?? true;
  const runtimeModule = options.runtimeModule ?? DEFAULT_RUNTIME_MODULE;
  if (typeof runtimeModule !== 'string' || runtimeModule.length === 0) throw new InvalidArgumentError('runtimeModule must be a module name');
  const memoryMb = options.memoryMb ?? Math.ceil((2 * modelBytes) / MIB) + 32;
  if (typeof memoryMb === 'number' ? !(memoryMb >= 0) : typeof memoryMb !== 'function') {
    throw new InvalidArgumentError('memoryMb must be a non-negative number or a function of the device');
  }
  // Resolved once, up front: a missing worker file should fail at setup, not on first acquire.
  const launch: WorkerLaunch | undefined = useWorkerThread ? resolveInferenceWorker(options.workerUrl) : undefined;

  const specFor = (device: DeviceInfo): SessionSpec => ({
    model: modelSource,
    deviceId: device.id,
    deviceKind: device.kind === 'cuda' ? 'cuda' : 'cpu',
    cudaDeviceId: cudaOrdinal(device),
    cudaFallbackToCpu,
    intraOpNumThreads,
    interOpNumThreads,
    sessionOptions,
  });

  return {
    intraOpNumThreads,
    interOpNumThreads,
    memoryMb,

    async create(device, ctx) {
      const spec = specFor(device);
      const backend: InferenceBackend = launch
        ? await WorkerBackend.start(launch, { spec, runtimeModule }, ctx.signal)
        : await InProcessBackend.start(spec, runtimeModule, ctx.signal);
      return new OnnxSessionService({
        backend,
        device,
        instanceId: ctx.instanceId,
        usesWorkerThread: launch !== undefined,
        intraOpNumThreads,
        interOpNumThreads,
        closeTimeoutMs,
      });
    },

    async destroy(service) {
      await service.close();
    },

    validate(service) {
      return service.healthy && !service.busy;
    },
  };
}

/** The host's CPU as a device, for sessions made outside a pool. */
export function cpuDevice(): DeviceInfo {
  return {
    id: 'cpu',
    kind: 'cpu',
    name: 'CPU',
    totalMemoryMb: Math.round(totalmem() / MIB),
    freeMemoryMb: Math.round(freemem() / MIB),
    healthy: true,
  };
}

function deviceFromId(id: string): DeviceInfo {
  if (id === 'cpu') return cpuDevice();
  const match = /^cuda:(\d+)$/.exec(id);
  if (!match) throw new InvalidArgumentError(`device must be 'cpu' or 'cuda:N', got "${id}"`);
  return { id, kind: 'cuda', index: Number(match[1]), name: `CUDA device ${match[1]}`, totalMemoryMb: 0, freeMemoryMb: 0, healthy: true };
}

/** Options of {@link createOnnxSession}: the factory's, plus where and under which id. */
export interface CreateOnnxSessionOptions extends OnnxSessionFactoryOptions {
  /** `'cpu'`, `'cuda:N'` or a `DeviceInfo`. @defaultValue 'cpu' */
  device?: string | DeviceInfo;
  /** @defaultValue a random UUID */
  instanceId?: string;
  /** Aborts the creation. */
  signal?: AbortSignal;
}

/**
 * Opens one session outside a pool (scripts, tests, or one-off work); close it with
 * `service.close()`. Inside a runner, prefer a `ServicePool` with {@link createOnnxSessionFactory}.
 */
export async function createOnnxSession(options: CreateOnnxSessionOptions): Promise<OnnxSessionService> {
  const { device = 'cpu', instanceId = crypto.randomUUID(), signal, ...factoryOptions } = options;
  const info = typeof device === 'string' ? deviceFromId(device) : device;
  return createOnnxSessionFactory(factoryOptions).create(info, { instanceId, signal: signal ?? new AbortController().signal });
}

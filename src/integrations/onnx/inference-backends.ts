import { Worker } from 'node:worker_threads';
import { DeviceUnavailableError } from '../../core/errors';
import { loadOnnxRuntime, type OrtModule, type OrtSession } from './load-onnxruntime';
import { deserializeError, toOutOfMemoryError } from './onnx-errors';
import type { OnnxOutputs, OnnxTensorData, SessionInfo } from './onnx-types';
import { openOrtSession, type SessionSpec } from './ort-session';
import { fromOrtOutputs, toOrtFeeds, transferableBuffers } from './tensors';
import { workerExecArgv, type WorkerLaunch } from './worker-location';
import type { FromWorker, InferenceWorkerData, ToWorker } from './worker-protocol';

export type { SessionInfo };

/** Result of one run as a backend returns it. */
export interface BackendResult {
  outputs: OnnxOutputs;
  durationMs: number;
}

/** Where a session lives: a worker thread, or the calling thread. */
export interface InferenceBackend {
  readonly info: SessionInfo;
  /** False once the backend died or was closed. */
  readonly alive: boolean;
  /** `transferInputs`: move the input buffers to the session's thread instead of copying them. */
  run(feeds: Record<string, OnnxTensorData>, fetches: string[] | undefined, transferInputs: boolean): Promise<BackendResult>;
  /** Releases the session; call only when no run is outstanding. */
  close(): Promise<void>;
  /** Stops at once, abandoning outstanding runs (they reject). */
  terminate(): Promise<void>;
  /** Called once if the backend dies on its own (a worker crash). */
  onDeath(listener: (error: Error) => void): void;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/** Grace period for a worker to exit on its own after releasing its session. */
const WORKER_EXIT_GRACE_MS = 2_000;

/** A session inside its own worker thread. */
/** Longest wait for the worker's `session.release()` before the thread is terminated. */
const RELEASE_TIMEOUT_MS = 10_000;

export class WorkerBackend implements InferenceBackend {
  private readonly pending = new Map<number, { resolve: (r: BackendResult) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  private dead = false;
  private closing = false;
  private deathListener: ((error: Error) => void) | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly info: SessionInfo,
    private readonly deviceId: string,
  ) {
    // An idle session must not keep the host process alive; a run in flight does.
    worker.unref();
    worker.on('message', (message: FromWorker) => this.onMessage(message));
    worker.on('error', (error) => this.die(error));
    worker.on('exit', (code) => {
      if (!this.closing) this.die(new Error(`inference worker exited unexpectedly with code ${code}`));
      this.dead = true;
    });
  }

  /** Starts a worker, opens the session inside it, and resolves once it is ready. */
  static start(launch: WorkerLaunch, data: InferenceWorkerData, signal?: AbortSignal): Promise<WorkerBackend> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const worker = new Worker(launch.target, {
        eval: launch.eval,
        execArgv: workerExecArgv(),
        workerData: data,
        name: `upkeep-onnx ${data.spec.deviceId}`,
      });
      let settled = false;
      const finish = (error: unknown, backend?: WorkerBackend) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        if (backend) resolve(backend);
        else {
          void worker.terminate();
          reject(error);
        }
      };
      const onAbort = () => finish(abortReason(signal!));
      const onError = (error: Error) =>
        finish(
          new DeviceUnavailableError(
            `the inference worker thread for ${data.spec.deviceId} could not start (${launch.file}), which is not a problem of the device: ${error.message}`,
            { cause: error },
          ),
        );
      const onExit = (code: number) =>
        finish(new DeviceUnavailableError(`the inference worker for ${data.spec.deviceId} exited with code ${code} before it was ready`));
      const onMessage = (message: FromWorker) => {
        if (message.type === 'ready') {
          const { type: _type, ...info } = message;
          finish(undefined, new WorkerBackend(worker, info, data.spec.deviceId));
        } else if (message.type === 'open-failed') {
          finish(deserializeError(message.error));
        }
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  }

  get alive(): boolean {
    return !this.dead && !this.closing;
  }

  onDeath(listener: (error: Error) => void): void {
    this.deathListener = listener;
  }

  run(feeds: Record<string, OnnxTensorData>, fetches: string[] | undefined, transferInputs: boolean): Promise<BackendResult> {
    if (this.dead) return Promise.reject(new DeviceUnavailableError(`the inference worker for ${this.deviceId} is not running`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      // Inputs are copied (structured clone) unless the caller gave them away.
      const message: ToWorker = { type: 'run', id, feeds, fetches };
      this.worker.postMessage(message, transferInputs ? transferableBuffers(feeds) : []);
    });
  }

  async close(): Promise<void> {
    if (this.dead || this.closing) return;
    this.closing = true;
    this.worker.ref(); // until it has exited
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    const closed = new Promise<void>((resolve) => {
      const onMessage = (message: FromWorker) => {
        if (message.type === 'closed') {
          this.worker.off('message', onMessage);
          resolve();
        }
      };
      this.worker.on('message', onMessage);
    });
    this.worker.postMessage({ type: 'close' } satisfies ToWorker);
    // A session.release() that never returns must not hold close (and pool.close()) for ever.
    let releaseTimer: NodeJS.Timeout | undefined;
    const releaseGaveUp = new Promise<void>((resolve) => {
      releaseTimer = setTimeout(resolve, RELEASE_TIMEOUT_MS);
    });
    await Promise.race([closed, exited, releaseGaveUp]);
    clearTimeout(releaseTimer);
    // Released: let the thread wind down, but do not wait on it forever.
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), WORKER_EXIT_GRACE_MS);
    });
    const outcome = await Promise.race([exited.then(() => 'exited' as const), grace]);
    clearTimeout(timer);
    if (outcome === 'timeout') await this.worker.terminate();
    this.dead = true;
  }

  async terminate(): Promise<void> {
    this.closing = true;
    await this.worker.terminate();
    this.dead = true;
    this.rejectAll(new DeviceUnavailableError(`the inference worker for ${this.deviceId} was terminated`));
  }

  private onMessage(message: FromWorker): void {
    if (message.type !== 'result' && message.type !== 'run-failed') return;
    const waiter = this.pending.get(message.id);
    if (!waiter) return;
    this.pending.delete(message.id);
    if (this.pending.size === 0 && !this.closing) this.worker.unref();
    if (message.type === 'result') waiter.resolve({ outputs: message.outputs, durationMs: message.durationMs });
    else waiter.reject(toOutOfMemoryError(deserializeError(message.error), this.deviceId));
  }

  private die(error: Error): void {
    if (this.dead) return;
    this.dead = true;
    const failure = new DeviceUnavailableError(`the inference worker for ${this.deviceId} died: ${error.message}`, { cause: error });
    this.rejectAll(toOutOfMemoryError(failure, this.deviceId));
    this.deathListener?.(failure);
  }

  private rejectAll(error: unknown): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}

/**
 * A session on the calling thread. `session.run` then blocks the event loop for the whole
 * inference; meant for comparison (the bench) and hosts that cannot use worker threads.
 */
export class InProcessBackend implements InferenceBackend {
  private released = false;

  private constructor(
    private readonly ort: OrtModule,
    private readonly session: OrtSession,
    readonly info: SessionInfo,
    private readonly deviceId: string,
  ) {}

  static async start(spec: SessionSpec, runtimeModule: string, signal?: AbortSignal): Promise<InProcessBackend> {
    signal?.throwIfAborted();
    const ort = await loadOnnxRuntime(runtimeModule);
    const { session, ...info } = await openOrtSession(ort, spec);
    if (signal?.aborted) {
      await session.release();
      throw abortReason(signal);
    }
    return new InProcessBackend(ort, session, info, spec.deviceId);
  }

  get alive(): boolean {
    return !this.released;
  }

  onDeath(): void {
    // Nothing can die on its own here.
  }

  async run(feeds: Record<string, OnnxTensorData>, fetches: string[] | undefined): Promise<BackendResult> {
    const started = performance.now();
    try {
      const outputs = fromOrtOutputs(await this.session.run(toOrtFeeds(this.ort, feeds), fetches));
      return { outputs, durationMs: performance.now() - started };
    } catch (error) {
      throw toOutOfMemoryError(error, this.deviceId);
    }
  }

  async close(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }

  terminate(): Promise<void> {
    return this.close();
  }
}

import { InvalidArgumentError, PoolClosedError } from '../../core/errors';
import type { InferenceBackend } from './inference-backends';
import type { OnnxExecutionProvider, OnnxFeeds, OnnxOutputs, OnnxTensorData, OnnxValueMetadata } from './onnx-types';
import type { DeviceInfo } from '../../pool';
import { normalizeFeeds } from './tensors';

/** Options of one {@link OnnxSessionService.run}. */
export interface OnnxRunOptions {
  /**
   * Abandons the run: a run still waiting its turn is dropped; one already executing rejects at
   * once and its result is discarded when it arrives (ONNX Runtime cannot stop a running graph).
   */
  signal?: AbortSignal;
  /** Output names to compute. @defaultValue every output of the model */
  fetches?: string[];
  /**
   * Move the input buffers to the worker instead of copying them: saves a copy (and main-thread
   * time) for big batches, but the caller's typed arrays are detached (empty) afterwards.
   * @defaultValue false
   */
  transferInputs?: boolean;
}

/** Counters of one session service. */
export interface OnnxSessionStats {
  /** Runs that returned outputs. */
  completedRuns: number;
  /** Runs that failed in the runtime (not counting aborted ones). */
  failedRuns: number;
  /** Runs accepted and not yet settled (waiting or executing). */
  inFlight: number;
  /** Sum of inference time measured where the session runs, in ms. */
  totalInferenceMs: number;
}

interface Job {
  feeds: Record<string, OnnxTensorData>;
  fetches: string[] | undefined;
  transferInputs: boolean;
  resolve: (outputs: OnnxOutputs) => void;
  reject: (error: unknown) => void;
  settled: boolean;
  dispatched: boolean;
  cleanup: () => void;
}

/** What the factory hands the service besides the backend. */
export interface OnnxSessionServiceInit {
  backend: InferenceBackend;
  device: DeviceInfo;
  instanceId: string;
  usesWorkerThread: boolean;
  intraOpNumThreads: number;
  interOpNumThreads: number;
  closeTimeoutMs: number;
}

/**
 * One ONNX Runtime session, as a pooled service: created by `createOnnxSessionFactory` on a
 * device, reused across tasks, closed by the pool. By default the session lives in its own worker
 * thread and `run` never blocks the event loop. Runs are executed one at a time in call order
 * (a session is not meant to be shared by concurrent tasks; the pool hands one lease at a time).
 */
export class OnnxSessionService {
  /** Device the pool placed this instance on. */
  readonly device: DeviceInfo;
  /** Id the pool gave the instance. */
  readonly instanceId: string;
  /** Provider the session actually runs on: `'cpu'` when a CUDA device fell back. */
  readonly executionProvider: OnnxExecutionProvider;
  /** Why the session is on CPU although its device is a GPU (the CUDA provider's error). */
  readonly fallbackReason: string | undefined;
  /** Model input names. */
  readonly inputNames: readonly string[];
  /** Model output names. */
  readonly outputNames: readonly string[];
  /** Declared inputs. */
  readonly inputMetadata: readonly OnnxValueMetadata[];
  /** Declared outputs. */
  readonly outputMetadata: readonly OnnxValueMetadata[];
  /** True when the session lives in a worker thread. */
  readonly usesWorkerThread: boolean;
  /** Threads ONNX Runtime uses inside one operator. */
  readonly intraOpNumThreads: number;
  /** Threads ONNX Runtime uses across operators. */
  readonly interOpNumThreads: number;

  private readonly backend: InferenceBackend;
  private readonly closeTimeoutMs: number;
  /** Runs handed to the backend before the previous ones finished; hides the thread hop. */
  private readonly maxDispatched: number;
  private readonly waiting: Job[] = [];
  private dispatched = 0;
  private accepted = 0;
  private closing: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly counters = { completedRuns: 0, failedRuns: 0, totalInferenceMs: 0 };

  /** @internal Made by `createOnnxSessionFactory` / `createOnnxSession`. */
  constructor(init: OnnxSessionServiceInit) {
    this.backend = init.backend;
    this.device = init.device;
    this.instanceId = init.instanceId;
    this.usesWorkerThread = init.usesWorkerThread;
    this.intraOpNumThreads = init.intraOpNumThreads;
    this.interOpNumThreads = init.interOpNumThreads;
    this.closeTimeoutMs = init.closeTimeoutMs;
    this.maxDispatched = init.usesWorkerThread ? 2 : 1;
    const info = init.backend.info;
    this.executionProvider = info.executionProvider;
    this.fallbackReason = info.fallbackReason;
    this.inputNames = Object.freeze([...info.inputNames]);
    this.outputNames = Object.freeze([...info.outputNames]);
    this.inputMetadata = Object.freeze(info.inputMetadata.map((m) => Object.freeze({ ...m })));
    this.outputMetadata = Object.freeze(info.outputMetadata.map((m) => Object.freeze({ ...m })));
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** False once closed or when the worker died; the pool's `validate` uses it. */
  get healthy(): boolean {
    return !this.closed && this.backend.alive;
  }

  /** Runs accepted and not yet settled. */
  get inFlight(): number {
    return this.accepted;
  }

  /**
   * True while any run is still executing in the backend, including runs whose caller
   * aborted: a busy session is not lent again (the pool's `validate` checks it), so the next
   * borrower does not wait behind abandoned work.
   */
  get busy(): boolean {
    return this.dispatched > 0 || this.accepted > 0;
  }

  stats(): OnnxSessionStats {
    return { ...this.counters, inFlight: this.accepted };
  }

  /**
   * Runs one inference. `feeds` are tensors by input name, as `{ type, data, dims }` or
   * `onnxruntime-node` `Tensor`s; outputs come back as plain `{ type, data, dims }`. Rejects with
   * `InvalidArgumentError` for unknown or missing inputs and wrong sizes, `OutOfMemoryError` when
   * the runtime could not allocate, `PoolClosedError` after `close()`, and the runtime's own
   * error otherwise.
   */
  async run(feeds: OnnxFeeds, options: OnnxRunOptions = {}): Promise<OnnxOutputs> {
    if (this.closing) throw new PoolClosedError(`ONNX session ${this.instanceId} on ${this.device.id} is closed`);
    const { signal, fetches, transferInputs = false } = options;
    signal?.throwIfAborted();
    const normalized = normalizeFeeds(feeds, this.inputNames);
    if (fetches !== undefined) {
      const unknown = fetches.filter((name) => !this.outputNames.includes(name));
      if (unknown.length > 0 || fetches.length === 0) {
        throw new InvalidArgumentError(`fetches must name outputs of the model (${this.outputNames.join(', ')}), got ${fetches.join(', ') || 'none'}`);
      }
    }
    return new Promise<OnnxOutputs>((resolve, reject) => {
      const job: Job = {
        feeds: normalized,
        fetches: fetches ? [...fetches] : undefined,
        transferInputs,
        resolve,
        reject,
        settled: false,
        dispatched: false,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      const onAbort = () => {
        if (job.settled) return;
        job.settled = true;
        job.cleanup();
        if (!job.dispatched) {
          const index = this.waiting.indexOf(job);
          if (index >= 0) this.waiting.splice(index, 1);
        }
        // An executing run stays counted in `dispatched`, so close() still waits for it.
        this.settleOne();
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.accepted += 1;
      this.waiting.push(job);
      this.pump();
    });
  }

  /**
   * Stops accepting runs, waits for every accepted run to finish (at most `closeTimeoutMs`, then
   * the worker is terminated and what is left rejects), and releases the session and its worker.
   * Safe to call more than once.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.closeTimeoutMs);
    });
    const outcome = await Promise.race([this.idle().then(() => 'idle' as const), timedOut]);
    clearTimeout(timer);
    if (outcome === 'idle') {
      await this.backend.close();
      return;
    }
    const error = new PoolClosedError(`ONNX session ${this.instanceId} on ${this.device.id} was closed before the run finished (closeTimeoutMs ${this.closeTimeoutMs})`);
    for (const job of this.waiting.splice(0)) this.fail(job, error);
    await this.backend.terminate();
  }

  private idle(): Promise<void> {
    if (this.accepted === 0 && this.dispatched === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.dispatched < this.maxDispatched && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      job.dispatched = true;
      this.dispatched += 1;
      this.backend.run(job.feeds, job.fetches, job.transferInputs).then(
        (result) => {
          this.counters.completedRuns += 1;
          this.counters.totalInferenceMs += result.durationMs;
          this.succeed(job, result.outputs);
        },
        (error: unknown) => {
          if (!job.settled) this.counters.failedRuns += 1;
          this.fail(job, error);
        },
      ).finally(() => {
        this.dispatched -= 1;
        this.pump();
        this.checkIdle();
      });
    }
  }

  private succeed(job: Job, outputs: OnnxOutputs): void {
    if (job.settled) return; // aborted: the result is discarded
    job.settled = true;
    job.cleanup();
    this.settleOne();
    job.resolve(outputs);
  }

  private fail(job: Job, error: unknown): void {
    if (job.settled) return;
    job.settled = true;
    job.cleanup();
    this.settleOne();
    job.reject(error);
  }

  private settleOne(): void {
    this.accepted -= 1;
    this.checkIdle();
  }

  private checkIdle(): void {
    // An aborted run that is still executing keeps the session busy: close waits for it too.
    if (this.accepted !== 0 || this.dispatched !== 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

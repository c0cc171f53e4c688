import { InvalidArgumentError } from '../core/errors';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import type { TaskContext } from '../runner/task-context';
import { getProcessorMetadata } from './processor-metadata';
import { assertJsonProps, instantiateProcessor, serializeProcessor, validateProcessor } from './serialization';

/** Data properties of a processor (methods left out): what `create(props)` accepts. */
export type ProcessorProps<P> = {
  [K in keyof P as P[K] extends (...args: never[]) => unknown ? never : K]?: P[K];
};

/** A concrete processor class. */
export type ProcessorClass<P extends MaintenanceTaskProcessor = MaintenanceTaskProcessor> = (new () => P) & {
  prototype: P;
};

/** Where a processor would like to run, and how much memory it expects to need. */
export interface ResourceRequest {
  /** Expected memory in MiB; recorded as `estimated_memory_mb` and used for device placement. */
  memoryMb?: number;
  /** `'auto'`, `'cpu'`, or a device id such as `'cuda:0'`. @defaultValue 'auto' */
  device?: string;
  /** Measured memory above this fails the task with MEMORY_LIMIT_EXCEEDED; `memory:warning` fires at 90 %. */
  memoryLimitMb?: number;
}

/**
 * Base class of every maintenance task processor. Declare the task's configuration as
 * class-validator-decorated properties and implement {@link process}; the properties are
 * stored as JSON in `processor_json` and restored before each run.
 */
export abstract class MaintenanceTaskProcessor<Result = unknown> {
  /**
   * Does the work of one task. Return a JSON-serialisable value: an object is stored as
   * `task.info` exactly, any other value as `{ result: value }` (nothing as `null`). Honour
   * `ctx.signal`: it aborts on cancel, timeout and shutdown.
   */
  abstract process(task: MaintenanceTask, ctx: TaskContext): Promise<Result> | Result;

  /** Optional: memory estimate and device preference of this task, read when it is enqueued and run. */
  resources?(): ResourceRequest;

  /**
   * Optional: called after an out-of-memory failure before the retry, with
   * `settings.retry.memoryReductionFactor`; shrink the batch size here. The new props are stored.
   */
  reduceMemory?(factor: number): void;

  /** Optional: runs after every attempt, whatever its outcome, bounded by `cleanupTimeoutSeconds`. */
  cleanup?(task: MaintenanceTask, ctx: TaskContext): Promise<void> | void;

  /**
   * Builds a processor from props and validates it with class-validator. Throws
   * `ProcessorValidationError` listing every failing property.
   */
  static create<P extends MaintenanceTaskProcessor>(this: ProcessorClass<P>, props: ProcessorProps<P> = {}): P {
    const meta = getProcessorMetadata(this);
    if (!meta) {
      throw new InvalidArgumentError(`${this.name}.create(): the class has no @Processor(name) decorator`);
    }
    if (typeof props !== 'object' || props === null || Array.isArray(props)) {
      throw new InvalidArgumentError(`${this.name}.create(props): props must be an object`);
    }
    assertJsonProps(props, this.name); // before class-transformer, which turns a Set into an array and loops on cycles
    const instance = instantiateProcessor(this, props);
    validateProcessor(instance, meta.name);
    serializeProcessor(instance); // props JSON cannot hold fail here, not at enqueue
    return instance;
  }
}

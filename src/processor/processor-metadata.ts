/**
 * Where `@Processor` stores its metadata: a global symbol on the class itself, so that
 * the ESM and CJS builds (and NestJS's explorer) read the same thing.
 */
export const PROCESSOR_METADATA = Symbol.for('upkeep.processor');

/** Per-processor policy, set with `@Processor(name, options)`. */
export interface ProcessorOptions {
  /** Attempts before the task ends in ERROR; overrides `settings.retry.maxAttempts`. */
  maxAttempts?: number;
  /** Per-attempt timeout in milliseconds; overrides `settings.defaultTimeoutMs`. */
  timeoutMs?: number;
  /** Default priority of tasks of this type (higher runs first). @defaultValue 0 */
  priority?: number;
  /** Retry backoff overrides for this processor. */
  backoff?: {
    /** Delay before the first retry. */
    initialDelayMs?: number;
    /** Growth factor per attempt. */
    multiplier?: number;
    /** Upper bound of a delay. */
    maxDelayMs?: number;
  };
}

/** What `@Processor` records. */
export interface ProcessorMetadata {
  /** Stable type name stored in `processor_type`. */
  name: string;
  /** Policy overrides. */
  options: ProcessorOptions;
}

/** The metadata declared on exactly this class (not inherited from a parent). */
export function getProcessorMetadata(target: unknown): ProcessorMetadata | undefined {
  if (typeof target !== 'function') return undefined;
  if (!Object.prototype.hasOwnProperty.call(target, PROCESSOR_METADATA)) return undefined;
  return (target as unknown as Record<symbol, ProcessorMetadata>)[PROCESSOR_METADATA];
}

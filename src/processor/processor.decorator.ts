import { InvalidArgumentError } from '../core/errors';
import { PROCESSOR_METADATA, type ProcessorOptions } from './processor-metadata';

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:\/-]{0,254}$/;

/**
 * Marks a class as a maintenance task processor under a stable type name. The name is
 * stored in `processor_type`; keep it stable across releases (renaming the class is fine).
 */
export function Processor(name: string, options: ProcessorOptions = {}): ClassDecorator {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new InvalidArgumentError(
      `@Processor(name): name must be 1-255 characters of letters, digits and . _ : / - (got ${JSON.stringify(name)})`,
    );
  }
  validateProcessorOptions(name, options);
  return (target) => {
    Object.defineProperty(target, PROCESSOR_METADATA, {
      value: Object.freeze({ name, options: Object.freeze({ ...options }) }),
      enumerable: false,
      configurable: true,
    });
  };
}

const OPTION_KEYS = new Set(['maxAttempts', 'timeoutMs', 'priority', 'backoff']);
const BACKOFF_KEYS = new Set(['initialDelayMs', 'multiplier', 'maxDelayMs']);
const MAX_TIMER_MS = 2_147_483_647;

function validateProcessorOptions(name: string, options: ProcessorOptions): void {
  const where = `@Processor(${JSON.stringify(name)}, options)`;
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${where}: options must be an object`);
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) throw new InvalidArgumentError(`${where}: unknown option "${key}"`);
  const int = (key: string, value: unknown, min: number, max: number) => {
    if (value !== undefined && (!Number.isInteger(value) || (value as number) < min || (value as number) > max)) {
      throw new InvalidArgumentError(`${where}: ${key} must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
    }
  };
  int('maxAttempts', options.maxAttempts, 1, 1000);
  int('timeoutMs', options.timeoutMs, 1, MAX_TIMER_MS);
  int('priority', options.priority, -1_000_000, 1_000_000);
  if (options.backoff !== undefined) {
    if (typeof options.backoff !== 'object' || options.backoff === null) throw new InvalidArgumentError(`${where}: backoff must be an object`);
    for (const key of Object.keys(options.backoff)) if (!BACKOFF_KEYS.has(key)) throw new InvalidArgumentError(`${where}: unknown option "backoff.${key}"`);
    int('backoff.initialDelayMs', options.backoff.initialDelayMs, 0, MAX_TIMER_MS);
    int('backoff.maxDelayMs', options.backoff.maxDelayMs, 0, MAX_TIMER_MS);
    const m = options.backoff.multiplier;
    if (m !== undefined && (typeof m !== 'number' || !Number.isFinite(m) || m < 1 || m > 100)) {
      throw new InvalidArgumentError(`${where}: backoff.multiplier must be a number from 1 to 100 (got ${JSON.stringify(m)})`);
    }
  }
}

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
  return (target) => {
    Object.defineProperty(target, PROCESSOR_METADATA, {
      value: Object.freeze({ name, options: Object.freeze({ ...options }) }),
      enumerable: false,
      configurable: true,
    });
  };
}

import { UpkeepError } from './upkeep-error';

/** A task's measured memory passed its limit. */
export class MemoryLimitExceededError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MEMORY_LIMIT_EXCEEDED', message, options);
    this.name = 'MemoryLimitExceededError';
  }
}

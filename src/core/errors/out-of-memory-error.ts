import { UpkeepError } from './upkeep-error';

/** Throw from a processor (or let upkeep recognise a runtime's error) when work ran out of memory. */
export class OutOfMemoryError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('OUT_OF_MEMORY', message, options);
    this.name = 'OutOfMemoryError';
  }
}

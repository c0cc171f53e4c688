import { UpkeepError } from './upkeep-error';

/** A function was called with an argument it cannot accept; the message names it. */
export class InvalidArgumentError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_ARGUMENT', message, options);
    this.name = 'InvalidArgumentError';
  }
}

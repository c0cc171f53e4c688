import { UpkeepError } from './upkeep-error';

/** Throw from a processor to fail the task at once, skipping any remaining retries. */
export class UnrecoverableTaskError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNRECOVERABLE', message, options);
    this.name = 'UnrecoverableTaskError';
  }
}

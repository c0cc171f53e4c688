import { UpkeepError } from './upkeep-error';

/** A task names a processor type that no registered processor has. */
export class UnknownProcessorError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNKNOWN_PROCESSOR', message, options);
    this.name = 'UnknownProcessorError';
  }
}

import { UpkeepError } from './upkeep-error';

/** A processor returned a value that cannot be stored as JSON. */
export class ResultSerializationError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RESULT_NOT_SERIALIZABLE', message, options);
    this.name = 'ResultSerializationError';
  }
}

import { UpkeepError } from './upkeep-error';

/** A request body is larger than the admin API accepts (`maxBodyBytes`): HTTP 413. */
export class PayloadTooLargeError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PAYLOAD_TOO_LARGE', message, options);
    this.name = 'PayloadTooLargeError';
  }
}

import { UpkeepError } from './upkeep-error';

/** The admin API could not identify the caller (`authorize` returned null): HTTP 401. */
export class UnauthorizedError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNAUTHORIZED', message, options);
    this.name = 'UnauthorizedError';
  }
}

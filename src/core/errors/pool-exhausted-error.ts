import { UpkeepError } from './upkeep-error';

/** No pooled service became free before the acquire timeout. */
export class PoolExhaustedError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('POOL_EXHAUSTED', message, options);
    this.name = 'PoolExhaustedError';
  }
}

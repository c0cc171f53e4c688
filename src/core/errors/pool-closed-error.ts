import { UpkeepError } from './upkeep-error';

/** The pool is draining or closed and hands out nothing more. */
export class PoolClosedError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('POOL_CLOSED', message, options);
    this.name = 'PoolClosedError';
  }
}

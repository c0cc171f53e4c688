import { UpkeepError } from './upkeep-error';

/** A lease was released or destroyed twice, or a service that the pool never lent was released. */
export class InvalidReleaseError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('POOL_INVALID_RELEASE', message, options);
    this.name = 'InvalidReleaseError';
  }
}

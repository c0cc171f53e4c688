import { UpkeepError } from './upkeep-error';

/** The caller sent more admin API requests than the rate limit allows: HTTP 429. */
export class RateLimitedError extends UpkeepError {
  /** Seconds until the caller may try again. */
  readonly retryAfterS: number | undefined;

  constructor(message: string, options?: { cause?: unknown; retryAfterS?: number }) {
    super('RATE_LIMITED', message, options);
    this.name = 'RateLimitedError';
    this.retryAfterS = options?.retryAfterS;
  }
}

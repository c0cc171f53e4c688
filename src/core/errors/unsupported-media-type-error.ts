import { UpkeepError } from './upkeep-error';

/** A request body is not `application/json`: HTTP 415. */
export class UnsupportedMediaTypeError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNSUPPORTED_MEDIA_TYPE', message, options);
    this.name = 'UnsupportedMediaTypeError';
  }
}

import { UpkeepError } from './upkeep-error';

/** A task ran longer than its timeout; its signal was aborted. */
export class TaskTimeoutError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TIMEOUT', message, options);
    this.name = 'TaskTimeoutError';
  }
}

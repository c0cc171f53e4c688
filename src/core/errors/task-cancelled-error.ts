import { UpkeepError } from './upkeep-error';

/** A task was cancelled while it ran (by an admin, a dependency, or shutdown). */
export class TaskCancelledError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CANCELLED', message, options);
    this.name = 'TaskCancelledError';
  }
}

import { UpkeepError } from './upkeep-error';

/** No task has the given id. */
export class TaskNotFoundError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TASK_NOT_FOUND', message, options);
    this.name = 'TaskNotFoundError';
  }
}

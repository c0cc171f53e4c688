import { UpkeepError } from './upkeep-error';

/** A status change that the transition table forbids, or that lost a race to another writer. */
export class IllegalTransitionError extends UpkeepError {
  /** The task concerned. */
  readonly taskId: string;
  /** Status the task had when the change was attempted (as last read). */
  readonly from: string;
  /** Status that was asked for. */
  readonly to: string;

  constructor(taskId: string, from: string, to: string, detail?: string) {
    super('ILLEGAL_TRANSITION', `Task ${taskId} cannot go from ${from} to ${to}${detail ? `: ${detail}` : ''}`);
    this.name = 'IllegalTransitionError';
    this.taskId = taskId;
    this.from = from;
    this.to = to;
  }
}

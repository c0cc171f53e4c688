import { UpkeepError } from './upkeep-error';

/** Why a running task was interrupted without failing. */
export type InterruptKind = 'pause' | 'shutdown' | 'lease_lost';

/**
 * Reason of `ctx.signal` when a task is paused, handed back at shutdown, or lost its lease.
 * The task does not fail: it keeps its cursor and runs again later.
 */
export class TaskInterruptedError extends UpkeepError {
  /** What interrupted the task. */
  readonly kind: InterruptKind;

  constructor(kind: InterruptKind, message: string) {
    super('INTERRUPTED', message);
    this.name = 'TaskInterruptedError';
    this.kind = kind;
  }
}

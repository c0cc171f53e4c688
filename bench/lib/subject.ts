// What the harness needs from each queue library: a fresh schema, enqueue one or many,
// a worker to start and stop, and a database-side count of finished tasks.

/** Called by every task handler when a task starts running. */
export type OnRun = () => void;

export interface Worker {
  stop(): Promise<void>;
}

export interface QueueSubject {
  /** Column name in the tables. */
  readonly name: string;
  /** The configuration used, printed and stored with the results. */
  readonly config: Record<string, unknown>;
  /** Fresh schema (or database) for this round; migrations run. */
  setup(round: number): Promise<void>;
  addOne(): Promise<void>;
  /** Enqueues `count` tasks in calls of `batch`. */
  addBatches(count: number, batch: number): Promise<void>;
  /** Starts a worker with concurrency 10 whose no-op handler calls `onRun`. */
  startWorker(onRun: OnRun): Promise<Worker>;
  /** Tasks whose completion is stored in the database. */
  countDone(): Promise<number>;
  /** Deletes tasks not started yet (after a phase hit its time cap); returns how many. */
  discardPending(): Promise<number>;
  /** Warnings and errors the library logged since the last call, by kind (upkeep only). */
  takeLogCounts?(): Record<string, number>;
  /** Drops the round's schema and closes connections. */
  teardown(): Promise<void>;
}

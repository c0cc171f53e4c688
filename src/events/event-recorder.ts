import type { Executor } from '../store/executor';
import { insertEvents, type EventRow } from '../store/event-store';

export type { EventRow };

/**
 * Persists events to `task_events` in batches: rows collect in memory and are written
 * by one multi-row INSERT per flush (at most every `flushIntervalMs`, or sooner when
 * `maxBatch` rows wait), never one INSERT per event on the hot path.
 */
export class EventRecorder {
  private buffer: EventRow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Executor,
    private readonly onError: (error: unknown) => void,
    private readonly flushIntervalMs = 100,
    private readonly maxBatch = 500,
  ) {}

  /** Queues a row for the next flush. */
  record(row: EventRow): void {
    this.buffer.push(row);
    if (this.buffer.length >= this.maxBatch) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.flushIntervalMs);
      this.timer.unref?.();
    }
  }

  /** Rows waiting to be written. */
  get pending(): number {
    return this.buffer.length;
  }

  /** Writes everything queued so far; resolves when it is stored. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const rows = this.buffer;
    this.buffer = [];
    this.flushing = this.flushing.then(() => (rows.length ? this.write(rows) : undefined));
    return this.flushing;
  }

  private async write(rows: EventRow[]): Promise<void> {
    for (let i = 0; i < rows.length; i += this.maxBatch) {
      const part = rows.slice(i, i + this.maxBatch);
      try {
        await insertEvents(this.db, part);
      } catch (error) {
        // A task deleted meanwhile (pruned) fails the foreign key; losing its events is fine,
        // losing the whole batch is not: retry row by row and drop only the failing ones.
        for (const row of part) await insertEvents(this.db, [row]).catch(() => this.onError(error));
      }
    }
  }
}

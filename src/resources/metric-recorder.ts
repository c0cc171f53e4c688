import type { Executor } from '../store/executor';
import { insertMetrics, type MetricRow } from '../store/event-store';

export type { MetricRow };

/** Writes `task_metrics` samples in batches: one INSERT per flush. */
export class MetricRecorder {
  private buffer: MetricRow[] = [];
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Executor,
    private readonly onError: (error: unknown) => void,
  ) {}

  record(row: MetricRow): void {
    this.buffer.push(row);
    if (this.buffer.length >= 500) void this.flush();
  }

  /** Writes what was recorded; resolves when stored. */
  flush(): Promise<void> {
    const rows = this.buffer;
    this.buffer = [];
    if (!rows.length) return this.writing;
    this.writing = this.writing.then(async () => {
      for (let i = 0; i < rows.length; i += 500) await insertMetrics(this.db, rows.slice(i, i + 500)).catch(this.onError);
    });
    return this.writing;
  }
}

import type { Executor } from '../store/executor';

/** One `task_metrics` sample. */
export interface MetricRow {
  taskId: string;
  timestamp: Date;
  memoryUsageMb: number | null;
  device: string | null;
  processingStage: string | null;
}

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
    const c = this.db.codec;
    this.writing = this.writing.then(async () => {
      for (let i = 0; i < rows.length; i += 500) {
        const part = rows.slice(i, i + 500);
        await this.db
          .query(
            `INSERT INTO ${c.id('task_metrics')} (${c.id('task_id')}, ${c.id('timestamp')}, ${c.id('memory_usage_mb')}, ${c.id('device')}, ${c.id('processing_stage')}) VALUES ${part
              .map(() => '(?, ?, ?, ?, ?)')
              .join(', ')}`,
            part.flatMap((r) => [r.taskId, c.date(r.timestamp), r.memoryUsageMb, r.device, r.processingStage]),
          )
          .catch(this.onError);
      }
    });
    return this.writing;
  }
}

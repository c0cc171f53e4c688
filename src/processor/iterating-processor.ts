import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import type { TaskContext } from '../runner/task-context';
import { MaintenanceTaskProcessor } from './maintenance-task-processor';

/** One item of an iteration and the cursor that resumes right after it. */
export interface CursorItem<Item> {
  /** The item to process. */
  item: Item;
  /** Opaque position after this item; stored so a new attempt continues from here. */
  cursor: string;
}

/** What an iterating processor returns when it finishes. */
export interface IterationResult {
  /** Items processed by this attempt. */
  processed: number;
  /** Items processed by all attempts together. */
  processedTotal: number;
  /** True when this attempt started from a stored cursor. */
  resumed: boolean;
}

/**
 * A processor that walks a collection item by item and can be interrupted at any item:
 * the runner stores the cursor as it goes (about once a second, and when the attempt
 * ends), so a task that was paused, handed back at shutdown, or failed and retried
 * continues from the stored cursor instead of from the start. Shopify's
 * maintenance_tasks calls this a collection with a cursor.
 */
export abstract class IteratingProcessor<Item, Result extends IterationResult = IterationResult> extends MaintenanceTaskProcessor<Result> {
  /** Yields the items after `cursor` (null: from the beginning), each with its own cursor. */
  abstract items(cursor: string | null, ctx: TaskContext): AsyncIterable<CursorItem<Item>> | Iterable<CursorItem<Item>>;

  /** Processes one item. */
  abstract processItem(item: Item, ctx: TaskContext): Promise<void> | void;

  /** Optional: total number of items, for progress. */
  countItems?(ctx: TaskContext): Promise<number | null> | number | null;

  /** Builds the result; override to add your own fields. */
  protected result(summary: IterationResult): Result {
    return summary as Result;
  }

  async process(task: MaintenanceTask, ctx: TaskContext): Promise<Result> {
    const resumed = ctx.cursor !== null;
    const before = resumed ? (task.progressDone ?? 0) : 0;
    const total = this.countItems ? await this.countItems(ctx) : null;
    let processed = 0;
    for await (const { item, cursor } of this.items(ctx.cursor, ctx)) {
      // A safe point: pause, cancel, shutdown and timeout take effect between items.
      ctx.throwIfStopping();
      await this.processItem(item, ctx);
      processed++;
      ctx.saveCursor(cursor);
      ctx.progress(before + processed, total);
    }
    return this.result({ processed, processedTotal: before + processed, resumed });
  }
}

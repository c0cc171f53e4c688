import { IsInt, IsOptional, IsString, Min } from 'class-validator';
import { IteratingProcessor, MaintenanceTaskProcessor, Processor, type CursorItem, type MaintenanceTask, type TaskContext } from '../../src';

/** Items processed per task id, across attempts (in-process record for assertions). */
export const processedItems = new Map<string, number[]>();

/** Walks 0..count-1, sleeping `stepMs` per item; resumable by cursor. */
@Processor('test-walk')
export class WalkProcessor extends IteratingProcessor<number> {
  @IsInt() @Min(1)
  count!: number;

  @IsInt() @Min(0)
  stepMs = 10;

  @IsOptional() @IsInt()
  failAt?: number;

  *items(cursor: string | null): Iterable<CursorItem<number>> {
    for (let i = cursor === null ? 0 : Number(cursor) + 1; i < this.count; i++) yield { item: i, cursor: String(i) };
  }

  async processItem(item: number, ctx: TaskContext): Promise<void> {
    if (this.failAt === item && ctx.attempt === 1) throw new Error(`failing at item ${item}`);
    const list = processedItems.get(ctx.taskId) ?? [];
    list.push(item);
    processedItems.set(ctx.taskId, list);
    await new Promise((r) => setTimeout(r, this.stepMs));
  }
}

/** Records the start time of every attempt and fails until `succeedOnAttempt`. */
export const attemptTimes = new Map<string, number[]>();

@Processor('test-flaky')
export class FlakyProcessor extends MaintenanceTaskProcessor<{ attempt: number }> {
  @IsInt() @Min(1)
  succeedOnAttempt!: number;

  process(task: MaintenanceTask, ctx: TaskContext): { attempt: number } {
    const times = attemptTimes.get(task.id) ?? [];
    times.push(Date.now());
    attemptTimes.set(task.id, times);
    if (ctx.attempt < this.succeedOnAttempt) throw new Error(`attempt ${ctx.attempt} fails`);
    return { attempt: ctx.attempt };
  }
}

/** Waits for its signal (or `ms`), then returns. */
@Processor('test-wait')
export class WaitProcessor extends MaintenanceTaskProcessor<{ waited: boolean }> {
  @IsInt() @Min(0)
  ms = 60_000;

  @IsOptional() @IsString()
  label?: string;

  async process(_task: MaintenanceTask, ctx: TaskContext): Promise<{ waited: boolean }> {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, this.ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      });
    });
    return { waited: true };
  }
}

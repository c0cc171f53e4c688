import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsInt, IsOptional, IsString, Min } from 'class-validator';
import { MaintenanceTaskProcessor, Processor, UnrecoverableTaskError, type MaintenanceTask, type TaskContext } from '../../src';

/** Returns the sum of its numbers. */
@Processor('test-sum')
export class SumProcessor extends MaintenanceTaskProcessor<{ sum: number }> {
  @IsArray() @ArrayMaxSize(100) @IsInt({ each: true })
  numbers!: number[];

  process(): { sum: number } {
    return { sum: this.numbers.reduce((a, b) => a + b, 0) };
  }
}

/** Behaves badly on purpose, as told by `mode`. */
@Processor('test-misbehave')
export class MisbehavingProcessor extends MaintenanceTaskProcessor {
  @IsString()
  mode!: 'busy-db-loop' | 'throw' | 'throw-string' | 'throw-undefined' | 'hang' | 'hang-ignoring-signal' | 'bigint' | 'cycle' | 'function' | 'unrecoverable' | 'fail-once' | 'ok';

  @IsOptional() @IsInt() @Min(0)
  sleepMs?: number;

  async process(task: MaintenanceTask, ctx: TaskContext): Promise<unknown> {
    switch (this.mode) {
      case 'busy-db-loop':
        // Never yields to timers on a synchronous driver; the deadline check must stop it.
        for (;;) {
          ctx.throwIfStopping();
          await ctx.dataSource.query('SELECT 1');
        }
      case 'throw':
        throw new Error('boom');
      case 'throw-string':
        // eslint-disable-next-line no-throw-literal
        throw 'a plain string';
      case 'throw-undefined':
        // eslint-disable-next-line no-throw-literal
        throw undefined;
      case 'hang':
        return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      case 'hang-ignoring-signal':
        return new Promise(() => undefined);
      case 'bigint':
        return { big: 10n };
      case 'cycle': {
        const a: Record<string, unknown> = {};
        a.self = a;
        return a;
      }
      case 'function':
        return { fn: () => 1 };
      case 'unrecoverable':
        throw new UnrecoverableTaskError('do not retry me');
      case 'fail-once':
        if (task.attempts === 1) throw new Error('first attempt fails');
        return { attempt: task.attempts };
      default:
        if (this.sleepMs) await new Promise((r) => setTimeout(r, this.sleepMs));
        return { ok: true };
    }
  }
}

/** Carries dates and nested objects, to test round trips. */
export class Window {
  @Type(() => Date)
  from!: Date;
  @Type(() => Date)
  to!: Date;
}

@Processor('test-dates')
export class DatesProcessor extends MaintenanceTaskProcessor<{ days: number }> {
  @Type(() => Window)
  window!: Window;

  process(): { days: number } {
    return { days: Math.round((this.window.to.getTime() - this.window.from.getTime()) / 86_400_000) };
  }
}

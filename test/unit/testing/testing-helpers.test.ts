import 'reflect-metadata';
import { IsInt, IsOptional, IsString } from 'class-validator';
import { afterEach, describe, expect, it } from 'vitest';
import { IteratingProcessor, MaintenanceTaskProcessor, Processor, ProcessorValidationError, type CursorItem, type MaintenanceTask, type TaskContext } from '../../../src';
import { createFakeClock, createTestUpkeep, runProcessor, type TestUpkeep } from '../../../src/testing';

@Processor('testing-greet')
class GreetProcessor extends MaintenanceTaskProcessor<{ greeting: string; attempt: number }> {
  @IsString() name!: string;

  async process(_task: MaintenanceTask, ctx: TaskContext) {
    const greeter = ctx.services.greeter as { greet(name: string): string };
    ctx.stage('greeting');
    ctx.progress(1, 1);
    ctx.logger.info('greeted', { name: this.name });
    return { greeting: greeter.greet(this.name), attempt: ctx.attempt };
  }
}

@Processor('testing-wait')
class WaitForSignal extends MaintenanceTaskProcessor {
  async process(_task: MaintenanceTask, ctx: TaskContext) {
    ctx.onCleanup(() => {
      cleanups.push('hook');
    });
    await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
  }
}
const cleanups: string[] = [];

@Processor('testing-walk')
class Walk extends IteratingProcessor<number> {
  @IsInt() upTo!: number;
  *items(cursor: string | null): Iterable<CursorItem<number>> {
    for (let i = cursor === null ? 0 : Number(cursor) + 1; i < this.upTo; i++) yield { item: i, cursor: String(i) };
  }
  processItem(): void {}
}

@Processor('testing-flaky', { maxAttempts: 3 })
class Flaky extends MaintenanceTaskProcessor {
  @IsOptional() @IsString() note?: string;
  process(task: MaintenanceTask) {
    if (task.attempts < 2) throw new Error(`attempt ${task.attempts} fails`);
    return { ok: task.attempts };
  }
}

describe('runProcessor (upkeep/testing)', () => {
  it('runs a class with props and services, and reports progress, stages and logs with bindings', async () => {
    const run = await runProcessor(GreetProcessor, { name: 'Ada' }, { services: { greeter: { greet: (n: string) => `hello ${n}` } }, attempt: 2 });
    expect(run.result).toEqual({ greeting: 'hello Ada', attempt: 2 });
    expect(run.info).toEqual({ greeting: 'hello Ada', attempt: 2 });
    expect(run.progress).toEqual([{ done: 1, total: 1 }]);
    expect(run.stages).toEqual(['greeting']);
    expect(run.logs).toEqual([{ level: 'info', message: 'greeted', meta: expect.objectContaining({ name: 'Ada', processorType: 'testing-greet', attempt: 2, taskId: run.task.id }) }]);
  });

  it('validates props like create() does', async () => {
    await expect(runProcessor(GreetProcessor, { name: 42 as unknown as string })).rejects.toBeInstanceOf(ProcessorValidationError);
  });

  it('aborting the given signal aborts ctx.signal; cleanup hooks run and the error comes back', async () => {
    cleanups.length = 0;
    const controller = new AbortController();
    const running = runProcessor(WaitForSignal.create({}), { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('cancelled by the test')), 10);
    await expect(running).rejects.toThrow('cancelled by the test');
    expect(cleanups).toEqual(['hook']);
  });

  it('a timeout aborts with TaskTimeoutError', async () => {
    await expect(runProcessor(WaitForSignal.create({}), { timeoutMs: 20 })).rejects.toMatchObject({ name: 'TaskTimeoutError' });
  });

  it('an iterating processor resumes from the given cursor and saves its last item', async () => {
    const run = await runProcessor(Walk, { upTo: 5 }, { cursor: '1' });
    expect(run.cursors).toEqual(['2', '3', '4']);
    expect(run.cursor).toBe('4');
    expect(run.result).toMatchObject({ processed: 3, resumed: true });
  });

  it('ctx.dataSource without one given throws a clear error', async () => {
    @Processor('testing-uses-db')
    class UsesDb extends MaintenanceTaskProcessor {
      process(_t: MaintenanceTask, ctx: TaskContext) {
        return ctx.dataSource.query('SELECT 1');
      }
    }
    await expect(runProcessor(UsesDb.create({}))).rejects.toThrow(/no dataSource was given/);
  });
});

describe('createTestUpkeep and the fake clock (upkeep/testing)', () => {
  let t: TestUpkeep | undefined;
  afterEach(async () => t?.close());

  it('gives a migrated in-memory SQLite Upkeep; a delayed task runs only once the fake clock passes its start', async () => {
    t = await createTestUpkeep({ processors: [GreetProcessor], services: { greeter: { greet: (n: string) => `hi ${n}` } }, clock: createFakeClock('2030-01-01T00:00:00Z') });
    const { upkeep, clock } = t;
    const task = await upkeep.createTask(GreetProcessor.create({ name: 'Bo' }), { delayMs: 3_600_000 });
    expect(task.startAt.toISOString()).toBe('2030-01-01T01:00:00.000Z');
    await upkeep.runDue();
    expect((await upkeep.getTask(task.id))!.status).toBe('PENDING');
    clock!.advance(3_600_000);
    await upkeep.runDue();
    const done = (await upkeep.getTask(task.id))!;
    expect(done.status).toBe('COMPLETED');
    expect(done.startedAt!.toISOString()).toBe('2030-01-01T01:00:00.000Z');
  });

  it('retry backoff follows the fake clock: the second attempt waits until the clock passes the retry time', async () => {
    t = await createTestUpkeep({ processors: [Flaky], clock: true, settings: { retry: { initialDelayMs: 60_000, jitter: 0 } } });
    const { upkeep, clock } = t;
    const task = await upkeep.createTask(Flaky.create({}));
    await upkeep.runDue();
    const waiting = (await upkeep.getTask(task.id))!;
    expect(waiting).toMatchObject({ status: 'PENDING', attempts: 1 });
    expect(waiting.startAt.getTime() - clock!.now().getTime()).toBe(60_000);
    clock!.advance(59_000);
    await upkeep.runDue();
    expect((await upkeep.getTask(task.id))!.status).toBe('PENDING');
    clock!.advance(1_000);
    await upkeep.runDue();
    expect((await upkeep.getTask(task.id))!).toMatchObject({ status: 'COMPLETED', attempts: 2 });
  });

  it('close() closes the database and is safe twice; bad clock input names the problem', async () => {
    t = await createTestUpkeep();
    await t.close();
    expect(t.dataSource.isInitialized).toBe(false);
    await t.close();
    t = undefined;
    expect(() => createFakeClock('not a date')).toThrow(/not a valid date/);
    expect(() => createFakeClock().advance(-1)).toThrow(/non-negative/);
  });
});

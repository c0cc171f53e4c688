// The seed's own assertions on `info` (its runner and processor tests), ported: a COMPLETED
// task's info is exactly what the processor returned; a failed one's info.error is the
// error's message, with its name and the attempt beside it, and no stack.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { IsString } from 'class-validator';
import { MaintenanceTaskProcessor, Processor, Upkeep, UnrecoverableTaskError, type MaintenanceTask } from '../../src';
import { databaseProblem, openTestDataSource, TEST_DB } from '../helpers/db';

const problem = await databaseProblem();

@Processor('seed-info-ok')
class ProcessedProcessor extends MaintenanceTaskProcessor {
  process() {
    return { processed: true };
  }
}

@Processor('seed-info-fail')
class FailingProcessor extends MaintenanceTaskProcessor {
  process(): never {
    throw new Error('Test error');
  }
}

/** Returns what `kind` says: values that are not objects, nothing, a coded error. */
@Processor('seed-info-kinds', { maxAttempts: 2 })
class KindsProcessor extends MaintenanceTaskProcessor {
  @IsString()
  kind!: 'number' | 'string' | 'array' | 'undefined' | 'null' | 'coded' | 'long-stack' | 'flaky';

  process(task: MaintenanceTask): unknown {
    switch (this.kind) {
      case 'number':
        return 42;
      case 'string':
        return 'done';
      case 'array':
        return [1, 2];
      case 'undefined':
        return undefined;
      case 'null':
        return null;
      case 'coded':
        throw new UnrecoverableTaskError('coded failure');
      case 'long-stack': {
        const error = new Error('first line of a long one');
        error.stack = `Error: first line of a long one\n${'    at frame (file.js:1:1)\n'.repeat(2000)}`;
        throw error;
      }
      case 'flaky':
        if (task.attempts < 2) throw new Error(`attempt ${task.attempts} fails`);
        return { processed: true, attempt: task.attempts };
    }
  }
}

describe.skipIf(problem)(`info as the seed has it, on ${TEST_DB}`, () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let upkeep: Upkeep;

  beforeAll(async () => {
    ({ dataSource, close } = await openTestDataSource());
    upkeep = new Upkeep({ dataSource, processors: [ProcessedProcessor, FailingProcessor, KindsProcessor], settings: { retry: { initialDelayMs: 1, jitter: 0 } } });
  });
  afterAll(async () => {
    await upkeep?.close();
    await close?.();
  });

  const run = async (processor: MaintenanceTaskProcessor, maxAttempts?: number) => {
    const task = await upkeep.createTask(processor, maxAttempts ? { maxAttempts } : {});
    for (let i = 0; i < 5; i++) {
      await upkeep.runDue();
      const t = (await upkeep.getTask(task.id))!;
      if (t.status !== 'PENDING') return t;
      await new Promise((r) => setTimeout(r, 5));
    }
    return (await upkeep.getTask(task.id))!;
  };

  it('a processor returning { processed: true } leaves exactly that in info; the event carries the result', async () => {
    const seen: unknown[] = [];
    const listener = ({ info }: { info: unknown }) => seen.push(info);
    upkeep.events.on('task:completed', listener);
    const t = await run(ProcessedProcessor.create({}));
    upkeep.events.off('task:completed', listener);
    expect(t.status).toBe('COMPLETED');
    expect(t.info).toEqual({ processed: true });
    expect(t.runnerInfo).toBeNull();
    expect(seen).toEqual([{ processed: true }]);
  });

  it("a processor throwing new Error('Test error') with one attempt leaves info.error === 'Test error', its name and the attempt, no stack", async () => {
    const t = await run(FailingProcessor.create({}), 1);
    expect(t.status).toBe('ERROR');
    expect(t.info!['error']).toBe('Test error');
    expect(t.info).toEqual({ error: 'Test error', errorName: 'Error', attempt: 1 });
    expect(JSON.stringify(t.info)).not.toMatch(/ at /);
    // last_error: the message first, then the stack.
    expect(t.lastError!.startsWith('Test error\n')).toBe(true);
    expect(t.lastError).toMatch(/seed-info\.test\.ts/);
    // The runner's own record of the attempt is in runner_info.
    expect(t.runnerInfo!.attempts).toEqual([{ attempt: 1, at: expect.any(String), reason: 'processor_error', message: 'Test error' }]);
  });

  it('a result that is not an object is stored as { result }; nothing as null', async () => {
    expect((await run(KindsProcessor.create({ kind: 'number' }))).info).toEqual({ result: 42 });
    expect((await run(KindsProcessor.create({ kind: 'string' }))).info).toEqual({ result: 'done' });
    expect((await run(KindsProcessor.create({ kind: 'array' }))).info).toEqual({ result: [1, 2] });
    const none = await run(KindsProcessor.create({ kind: 'undefined' }));
    expect(none.status).toBe('COMPLETED');
    expect(none.info).toBeNull();
    expect((await run(KindsProcessor.create({ kind: 'null' }))).info).toBeNull();
  });

  it("an error's code is errorCode; a long stack is cut in last_error, the message kept whole and first", async () => {
    const coded = await run(KindsProcessor.create({ kind: 'coded' }), 1);
    expect(coded.info).toEqual({ error: 'coded failure', errorName: 'UnrecoverableTaskError', errorCode: 'UNRECOVERABLE', attempt: 1 });
    const long = await run(KindsProcessor.create({ kind: 'long-stack' }), 1);
    expect(long.info).toEqual({ error: 'first line of a long one', errorName: 'Error', attempt: 1 });
    expect(long.lastError!.length).toBeLessThanOrEqual(8 * 1024);
    expect(long.lastError!.startsWith('first line of a long one\n    at frame')).toBe(true);
    expect(long.lastError!.endsWith('…')).toBe(true);
  });

  it('a retry keeps the failure in info while PENDING; the success then leaves only its result, attempts stay in runner_info', async () => {
    // Its own facade: a retry 300 ms later, so runDue leaves it PENDING in between.
    const slow = new Upkeep({ dataSource, processors: [KindsProcessor], settings: { retry: { initialDelayMs: 300, jitter: 0 } } });
    const task = await slow.createTask(KindsProcessor.create({ kind: 'flaky' }));
    await slow.runDue();
    const pending = (await slow.getTask(task.id))!;
    expect(pending.status).toBe('PENDING');
    expect(pending.info).toEqual({ error: 'attempt 1 fails', errorName: 'Error', attempt: 1 });
    await new Promise((r) => setTimeout(r, 350));
    await slow.runDue();
    const done = (await slow.getTask(task.id))!;
    await slow.close();
    expect(done.status).toBe('COMPLETED');
    expect(done.info).toEqual({ processed: true, attempt: 2 });
    expect(done.runnerInfo!.attempts!.map((a) => a.message)).toEqual(['attempt 1 fails']);
  });

  it('an admin cancel and a failed dependency write the same shape', async () => {
    const pending = await upkeep.createTask(ProcessedProcessor.create({}), { startAt: new Date(Date.now() + 3_600_000) });
    const cancelled = await upkeep.cancelTask(pending.id);
    expect(cancelled.info).toEqual({ error: 'Cancelled by an admin', errorName: 'TaskCancelledError', errorCode: 'CANCELLED', attempt: 0 });
    const dependent = await upkeep.createTask(ProcessedProcessor.create({}), { dependsOn: [cancelled] });
    expect(dependent.status).toBe('CANCELLED');
    expect(dependent.info).toEqual({ error: expect.stringContaining(cancelled.id), errorName: 'DependencyFailed', errorCode: 'DEPENDENCY_FAILED', attempt: 0 });
  });
});

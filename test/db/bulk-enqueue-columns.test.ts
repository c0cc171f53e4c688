// createTasks leaves nullable columns without a value out of its INSERT (src/store/task-insert.ts):
// a batch mixing rows with and without them must store and return what a full insert did.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { MaintenanceTaskProcessor, Processor, Upkeep, type MaintenanceTask, type ResourceRequest } from '../../src';
import { databaseProblem, openTestDataSource, TEST_DB } from '../helpers/db';
import { SumProcessor } from '../helpers/processors';

const problem = await databaseProblem();

@Processor('bulk-columns-placed')
class PlacedProcessor extends MaintenanceTaskProcessor {
  process() {
    return null;
  }
  override resources(): ResourceRequest {
    return { memoryMb: 12.4, device: 'cpu' };
  }
}

/** The fields a created task carries, as compared between the returned and the read-back task. */
function fields(task: MaintenanceTask) {
  return {
    id: task.id,
    status: task.status,
    processorType: task.processorType,
    processorJson: task.processorJson,
    info: task.info,
    runnerInfo: task.runnerInfo,
    traceContext: task.traceContext,
    timeoutMs: task.timeoutMs,
    uniqueKey: task.uniqueKey,
    estimatedMemoryMb: task.estimatedMemoryMb,
    assignedDevice: task.assignedDevice,
    failureReason: task.failureReason,
    finishedAt: task.finishedAt?.getTime() ?? null,
    startAt: task.startAt.getTime(),
    priority: task.priority,
    attempts: task.attempts,
    maxAttempts: task.maxAttempts,
    dependsOnCount: task.dependsOnCount,
    resourceCleanupCompleted: task.resourceCleanupCompleted,
    version: task.version,
  };
}

describe.skipIf(problem)(`createTasks column values on ${TEST_DB}`, () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let upkeep: Upkeep;

  beforeAll(async () => {
    ({ dataSource, close } = await openTestDataSource());
    upkeep = new Upkeep({ dataSource, processors: [SumProcessor, PlacedProcessor] });
  });
  afterAll(async () => {
    await upkeep?.close();
    await close?.();
  });

  it('a batch mixing plain rows and rows with optional columns stores each as given', async () => {
    const failed = await upkeep.createTask(SumProcessor.create({ numbers: [0] }), { inactive: true });
    await upkeep.cancelTask(failed.id);
    const existing = await upkeep.createTask(SumProcessor.create({ numbers: [9] }), { uniqueKey: 'bulk-columns-existing', inactive: true });
    const plain = () => ({ processor: SumProcessor.create({ numbers: [1, 2] }) });
    const created = await upkeep.createTasks([
      plain(),
      { processor: SumProcessor.create({ numbers: [3] }), timeoutMs: 500, uniqueKey: 'bulk-columns-new', priority: 4, maxAttempts: 7 },
      plain(),
      { processor: PlacedProcessor.create({}) },
      { processor: SumProcessor.create({ numbers: [4] }), dependsOn: [failed.id] },
      { processor: SumProcessor.create({ numbers: [5] }), uniqueKey: 'bulk-columns-existing' },
      { processor: SumProcessor.create({ numbers: [6] }), delayMs: 60_000, inactive: true },
      plain(),
    ]);
    expect(created).toHaveLength(8);
    const [first, keyed, , placed, dependent, loser, inactive, last] = created as [MaintenanceTask, ...MaintenanceTask[]];
    expect(fields(first)).toMatchObject({ status: 'PENDING', timeoutMs: null, uniqueKey: null, estimatedMemoryMb: null, assignedDevice: null, info: null, runnerInfo: null, failureReason: null, finishedAt: null, attempts: 0, version: 1, dependsOnCount: 0, resourceCleanupCompleted: false });
    expect(fields(keyed!)).toMatchObject({ timeoutMs: 500, uniqueKey: 'bulk-columns-new', priority: 4, maxAttempts: 7 });
    expect(fields(placed!)).toMatchObject({ estimatedMemoryMb: 12, assignedDevice: 'cpu', runnerInfo: { placement: { device: 'cpu', reason: 'processor_preference' } } });
    expect(dependent!.status).toBe('CANCELLED');
    expect(dependent!.dependsOnCount).toBe(1);
    expect(dependent!.failureReason).toBe('dependency_failed');
    expect(dependent!.finishedAt).toBeInstanceOf(Date);
    expect(dependent!.info).toMatchObject({ errorCode: 'DEPENDENCY_FAILED' });
    expect(loser!.id).toBe(existing.id);
    expect(inactive!.status).toBe('INACTIVE');
    expect(last!.timeoutMs).toBeNull();
    // What came back is what is stored.
    for (const task of created) expect(fields((await upkeep.getTask(task.id))!)).toEqual(fields(task));
  });

  it('a batch of plain rows only stores NULL in every optional column', async () => {
    const created = await upkeep.createTasks([1, 2, 3].map((n) => ({ processor: SumProcessor.create({ numbers: [n] }) })));
    for (const task of created) {
      const stored = (await upkeep.getTask(task.id))!;
      expect(fields(stored)).toEqual(fields(task));
      expect(fields(stored)).toMatchObject({ timeoutMs: null, uniqueKey: null, estimatedMemoryMb: null, assignedDevice: null, info: null, runnerInfo: null, traceContext: null, failureReason: null, finishedAt: null });
    }
  });

  it('returns tasks in input order, and the first of two rows with one unique key wins', async () => {
    const many = await upkeep.createTasks(Array.from({ length: 50 }, (_, n) => ({ processor: SumProcessor.create({ numbers: [n] }) })));
    expect(many.map((t) => JSON.parse(t.processorJson).numbers[0])).toEqual(Array.from({ length: 50 }, (_, n) => n));
    for (const task of many.slice(0, 5)) expect(JSON.parse((await upkeep.getTask(task.id))!.processorJson)).toEqual(JSON.parse(task.processorJson));
    const [a, b, c] = await upkeep.createTasks([
      { processor: SumProcessor.create({ numbers: [1] }), uniqueKey: 'bulk-columns-dup' },
      { processor: SumProcessor.create({ numbers: [2] }) },
      { processor: SumProcessor.create({ numbers: [3] }), uniqueKey: 'bulk-columns-dup' },
    ]);
    expect(c!.id).toBe(a!.id);
    expect(JSON.parse((await upkeep.getTask(a!.id))!.processorJson)).toEqual({ numbers: [1] });
    expect(b!.uniqueKey).toBeNull();
  });
});

import { IsInt, Min, ValidateNested } from 'class-validator';
import { Type } from 'class-transformer';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import {
  createMaintenanceTask,
  InvalidArgumentError,
  isUpkeepError,
  MaintenanceTaskProcessor,
  Processor,
  ProcessorValidationError,
  SettingsValidationError,
  Upkeep,
  type CreateTaskOptions,
} from '../../src';
import { databaseProblem, openTestDataSource, TEST_DB } from '../helpers/db';
import { SumProcessor } from '../helpers/processors';

const problem = await databaseProblem();

class Limits {
  @IsInt() @Min(1)
  max!: number;
}

@Processor('bad-input-nested')
class NestedProcessor extends MaintenanceTaskProcessor {
  @IsInt() @Min(0)
  count!: number;

  @ValidateNested() @Type(() => Limits)
  limits!: Limits;

  process() {
    return null;
  }
}

/** Extends the base class but has no @Processor. */
class UndecoratedProcessor extends MaintenanceTaskProcessor {
  process() {
    return null;
  }
}

/** Inherits SumProcessor's decorator target but not its registration. */
class SumChild extends SumProcessor {}

const TABLES = ['maintenance_tasks', 'maintenance_task_dependencies', 'task_events', 'task_metrics'];

describe.skipIf(problem)(`bad input through the facade on ${TEST_DB}`, () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let upkeep: Upkeep;
  let existingId: string;

  /** Row counts of every upkeep table, after pending events are written. */
  const counts = async (): Promise<Record<string, number>> => {
    await upkeep.internals.recorder.flush();
    const out: Record<string, number> = {};
    for (const table of TABLES) {
      const [row] = await dataSource.query(`SELECT COUNT(*) AS n FROM ${table}`);
      out[table] = Number(row.n);
    }
    return out;
  };

  /**
   * Calls `fn`, which must reject with `errorClass` whose message matches every pattern,
   * and checks that no table gained or lost a row.
   */
  async function rejectsWithoutWriting(fn: () => Promise<unknown>, errorClass: new (...args: never[]) => Error, ...patterns: RegExp[]): Promise<Error> {
    const before = await counts();
    let thrown: unknown;
    try {
      await fn();
    } catch (error) {
      thrown = error;
    }
    expect(thrown, 'expected a rejection').toBeInstanceOf(errorClass);
    expect(isUpkeepError(thrown)).toBe(true);
    for (const pattern of patterns) expect((thrown as Error).message).toMatch(pattern);
    expect(await counts()).toEqual(before);
    return thrown as Error;
  }

  beforeAll(async () => {
    ({ dataSource, close } = await openTestDataSource());
    upkeep = new Upkeep({ dataSource, processors: [SumProcessor, NestedProcessor] });
    existingId = (await upkeep.createTask(SumProcessor.create({ numbers: [1] }), { inactive: true })).id;
  });
  afterAll(async () => {
    await upkeep?.close();
    await close?.();
  });
  beforeEach(async () => {
    // Every case starts with the one known row and nothing else pending.
    expect((await counts()).maintenance_tasks).toBeGreaterThanOrEqual(1);
  });

  describe('createTask with something that is not a usable processor', () => {
    it.each([
      ['null', null],
      ['undefined', undefined],
      ['a plain object', { numbers: [1] }],
      ['an object with a process() method', { process: () => 1 }],
      ['the class instead of an instance', SumProcessor],
      ['a JSON string', '{"numbers":[1]}'],
    ])('%s → InvalidArgumentError', async (_label, value) => {
      await rejectsWithoutWriting(() => upkeep.createTask(value as never), InvalidArgumentError, /MaintenanceTaskProcessor/, /create\(props\)/);
    });

    it('an instance of a class without @Processor → InvalidArgumentError naming the class', async () => {
      await rejectsWithoutWriting(() => upkeep.createTask(new UndecoratedProcessor()), InvalidArgumentError, /UndecoratedProcessor/, /@Processor/);
    });

    it('an instance of an undecorated subclass of a decorated processor → InvalidArgumentError', async () => {
      const child = Object.assign(new SumChild(), { numbers: [1] });
      await rejectsWithoutWriting(() => upkeep.createTask(child), InvalidArgumentError, /SumChild/, /@Processor/);
    });
  });

  describe('createTask with props that became invalid after create()', () => {
    it('a top-level prop → ProcessorValidationError naming it', async () => {
      const processor = SumProcessor.create({ numbers: [1, 2] });
      (processor as { numbers: unknown }).numbers = 'one, two';
      const error = (await rejectsWithoutWriting(() => upkeep.createTask(processor), ProcessorValidationError, /numbers/)) as ProcessorValidationError;
      expect(error.code).toBe('PROCESSOR_VALIDATION');
      expect(error.processorType).toBe('test-sum');
    });

    it('array elements and nested props → every one named', async () => {
      const processor = NestedProcessor.create({ count: 1, limits: { max: 5 } as Limits });
      processor.count = -1;
      processor.limits.max = 0;
      const error = (await rejectsWithoutWriting(() => upkeep.createTask(processor), ProcessorValidationError, /count/, /limits\.max/)) as ProcessorValidationError;
      expect(error.problems.map((p) => p.property).sort()).toEqual(['count', 'limits.max']);
    });

    it('an array grown past its @ArrayMaxSize', async () => {
      const processor = SumProcessor.create({ numbers: [1] });
      processor.numbers = Array.from({ length: 101 }, (_, i) => i);
      await rejectsWithoutWriting(() => upkeep.createTask(processor), ProcessorValidationError, /numbers/);
    });
  });

  describe('createTask with bad options', () => {
    const good = () => SumProcessor.create({ numbers: [1] });
    it.each<[string, Record<string, unknown>, RegExp[]]>([
      ['an invalid Date as startAt', { startAt: new Date('not a date') }, [/startAt/, /valid Date/]],
      ['a string as startAt', { startAt: '2030-01-01T00:00:00Z' }, [/startAt/]],
      ['a number as startAt', { startAt: Date.now() }, [/startAt/]],
      ['both startAt and delayMs', { startAt: new Date(), delayMs: 10 }, [/startAt/, /delayMs/, /not both/]],
      ['an unknown option key', { startat: new Date() }, [/unknown option "startat"/]],
      ['the seed name "delay" instead of delayMs', { delay: 5 }, [/unknown option "delay"/]],
      ['priority below the range', { priority: -1_000_001 }, [/priority/, /-1000000/]],
      ['priority above the range', { priority: 1_000_001 }, [/priority/]],
      ['a fractional priority', { priority: 1.5 }, [/priority/, /integer/]],
      ['a string priority', { priority: '5' }, [/priority/]],
      ['a negative delayMs', { delayMs: -1 }, [/delayMs/]],
      ['maxAttempts 0', { maxAttempts: 0 }, [/maxAttempts/]],
      ['timeoutMs 0', { timeoutMs: 0 }, [/timeoutMs/]],
      ['an empty uniqueKey', { uniqueKey: '' }, [/uniqueKey/]],
      ['a uniqueKey over 255 characters', { uniqueKey: 'k'.repeat(256) }, [/uniqueKey/]],
      ['dependsOn that is not an array', { dependsOn: 'some-id' }, [/dependsOn/, /array/]],
      ['dependsOn holding a number', { dependsOn: [42] }, [/dependsOn/]],
    ])('%s → InvalidArgumentError naming it', async (_label, options, patterns) => {
      await rejectsWithoutWriting(() => upkeep.createTask(good(), options as CreateTaskOptions), InvalidArgumentError, ...patterns);
    });

    it('dependsOn an unknown id → InvalidArgumentError naming the id', async () => {
      const missing = '00000000-0000-4000-8000-00000000dead';
      await rejectsWithoutWriting(() => upkeep.createTask(good(), { dependsOn: [existingId, missing] }), InvalidArgumentError, /dependsOn/, new RegExp(missing));
    });
  });

  describe('createTasks (bulk) is all or nothing on bad input', () => {
    const good = () => ({ processor: SumProcessor.create({ numbers: [1] }) });

    it('one bad item among good ones → nothing is inserted and the error names its index', async () => {
      await rejectsWithoutWriting(
        () => upkeep.createTasks([good(), good(), { ...good(), priority: 0.5 }, good()]),
        InvalidArgumentError,
        /items\[2\]/,
        /priority/,
      );
    });

    it('one invalid processor among good ones → nothing is inserted', async () => {
      const bad = SumProcessor.create({ numbers: [1] });
      (bad as { numbers: unknown }).numbers = null;
      await rejectsWithoutWriting(() => upkeep.createTasks([good(), { processor: bad }]), ProcessorValidationError, /numbers/);
    });

    it('one unknown dependency among good items → nothing is inserted', async () => {
      await rejectsWithoutWriting(
        () => upkeep.createTasks([good(), { ...good(), dependsOn: ['00000000-0000-4000-8000-00000000beef'] }]),
        InvalidArgumentError,
        /00000000-0000-4000-8000-00000000beef/,
      );
    });

    it.each([
      ['not an array', { processor: SumProcessor.create({ numbers: [1] }) }],
      ['an array holding null', [null]],
    ])('%s → InvalidArgumentError', async (_label, items) => {
      await rejectsWithoutWriting(() => upkeep.createTasks(items as never), InvalidArgumentError);
    });
  });

  describe('createMaintenanceTask (the plain function) checks the same things', () => {
    it('an invalid startAt', async () => {
      await rejectsWithoutWriting(
        () => createMaintenanceTask(dataSource, SumProcessor.create({ numbers: [1] }), { startAt: new Date(Number.NaN) }),
        InvalidArgumentError,
        /startAt/,
      );
    });

    it('a processor that is not one', async () => {
      await rejectsWithoutWriting(() => createMaintenanceTask(dataSource, {} as never), InvalidArgumentError, /MaintenanceTaskProcessor/);
    });

    it('an unknown dependency', async () => {
      await rejectsWithoutWriting(
        () => createMaintenanceTask(dataSource, SumProcessor.create({ numbers: [1] }), { dependsOn: ['00000000-0000-4000-8000-0000000000aa'] }),
        InvalidArgumentError,
        /00000000-0000-4000-8000-0000000000aa/,
      );
    });

    // A typo such as `startat` must not silently enqueue a task that is due now.
    it('an unknown option key', async () => {
      await rejectsWithoutWriting(
        () => createMaintenanceTask(dataSource, SumProcessor.create({ numbers: [1] }), { startat: new Date(Date.now() + 3_600_000) } as never),
        InvalidArgumentError,
        /unknown option "startat"/,
      );
    });

    it('invalid settings', async () => {
      await rejectsWithoutWriting(
        () => createMaintenanceTask(dataSource, SumProcessor.create({ numbers: [1] }), { settings: { retry: { maxAttempts: 0 } } }),
        SettingsValidationError,
        /retry\.maxAttempts/,
      );
    });
  });

  describe('new Upkeep with invalid settings', () => {
    it.each<[string, unknown, string[]]>([
      ['an unknown key', { maxQueueSise: 10 }, ['maxQueueSise']],
      ['a value out of range', { maxQueueSize: 0 }, ['maxQueueSize']],
      ['a wrong type, nested', { retry: { maxAttempts: 'three' } }, ['retry.maxAttempts']],
      ['the YAML shape, with two problems', { tasks: { max_queue_size: -1, retry: { max_atempts: 2 } } }, ['tasks.max_queue_size', 'tasks.retry.max_atempts']],
    ])('%s → SettingsValidationError naming the key', async (_label, settings, keys) => {
      const before = await counts();
      let thrown: unknown;
      try {
        new Upkeep({ dataSource, processors: [SumProcessor], settings: settings as never });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(SettingsValidationError);
      expect((thrown as SettingsValidationError).problems.map((p) => p.key).sort()).toEqual([...keys].sort());
      for (const key of keys) expect((thrown as Error).message).toContain(key);
      expect(await counts()).toEqual(before);
    });
  });

  describe('createRunner with bad options', () => {
    it.each<[string, Record<string, unknown>, RegExp[]]>([
      ['concurrency 0', { concurrency: 0 }, [/concurrency/, /positive integer/]],
      ['a negative concurrency', { concurrency: -2 }, [/concurrency/]],
      ['a fractional concurrency', { concurrency: 1.5 }, [/concurrency/]],
      ['a string concurrency', { concurrency: '4' }, [/concurrency/]],
      ['an unknown option', { concurency: 4 }, [/unknown option "concurency"/]],
      ['pollIntervalMs 0', { pollIntervalMs: 0 }, [/pollIntervalMs/]],
      ['a heartbeat not below the lease', { leaseMs: 1000, heartbeatIntervalMs: 1000 }, [/heartbeatIntervalMs/, /leaseMs/]],
      ['processorTypes that is not a list of strings', { processorTypes: 'test-sum' }, [/processorTypes/]],
    ])('%s → InvalidArgumentError naming the key', (_label, options, patterns) => {
      let thrown: unknown;
      try {
        upkeep.createRunner(options as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidArgumentError);
      for (const pattern of patterns) expect((thrown as Error).message).toMatch(pattern);
    });
  });

  it('after all that bad input, good tasks still run and the untouched row is unchanged', async () => {
    const before = await upkeep.getTask(existingId);
    const task = await upkeep.createTask(SumProcessor.create({ numbers: [20, 22] }));
    await upkeep.runDue();
    const done = (await upkeep.getTask(task.id))!;
    expect(done.status).toBe('COMPLETED');
    expect(done.info).toEqual({ sum: 42 });
    expect(await upkeep.getTask(existingId)).toEqual(before);
  });
});

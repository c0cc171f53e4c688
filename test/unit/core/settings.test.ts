import { describe, expect, it } from 'vitest';
import { isUpkeepError, resolveSettings, RetrySettings, SettingsValidationError, UpkeepSettings } from '../../../src';

/** Runs resolveSettings and returns the SettingsValidationError it must throw. */
function rejection(input: unknown): SettingsValidationError {
  try {
    resolveSettings(input as never);
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsValidationError);
    expect(isUpkeepError(error)).toBe(true);
    expect((error as SettingsValidationError).code).toBe('INVALID_SETTINGS');
    return error as SettingsValidationError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

const keysOf = (error: SettingsValidationError) => error.problems.map((p) => p.key).sort();

describe('resolveSettings: defaults', () => {
  it("has the second seed's defaults", () => {
    for (const settings of [resolveSettings(), resolveSettings({}), resolveSettings({ tasks: {} })]) {
      expect(settings).toMatchObject({
        maxQueueSize: 100,
        queueTimeoutSeconds: 300,
        enablePriorityQueue: true,
        enableResourceTracking: true,
        cleanupTimeoutSeconds: 30,
        retry: { maxAttempts: 3, backoffMultiplier: 2, memoryReductionFactor: 0.5 },
      });
    }
  });

  it('the classes carry the same defaults as resolveSettings()', () => {
    expect({ ...resolveSettings(), retry: { ...resolveSettings().retry } }).toEqual({ ...new UpkeepSettings(), retry: { ...new RetrySettings() } });
  });

  it('returns complete, frozen settings (retry too) of the settings classes', () => {
    const settings = resolveSettings({ maxQueueSize: 5 });
    expect(settings).toBeInstanceOf(UpkeepSettings);
    expect(settings.retry).toBeInstanceOf(RetrySettings);
    expect(Object.isFrozen(settings)).toBe(true);
    expect(Object.isFrozen(settings.retry)).toBe(true);
    expect(() => {
      (settings as { maxQueueSize: number }).maxQueueSize = 1;
    }).toThrow(TypeError);
    expect(() => {
      (settings.retry as { maxAttempts: number }).maxAttempts = 1;
    }).toThrow(TypeError);
  });

  it('does not freeze or keep the caller object', () => {
    const input = { maxQueueSize: 7, retry: { maxAttempts: 4 } };
    const settings = resolveSettings(input);
    expect(Object.isFrozen(input)).toBe(false);
    expect(Object.isFrozen(input.retry)).toBe(false);
    input.retry.maxAttempts = 9;
    expect(settings.retry.maxAttempts).toBe(4);
  });

  it('a partial retry keeps the other retry defaults', () => {
    const settings = resolveSettings({ retry: { maxAttempts: 5 } });
    expect(settings.retry).toMatchObject({ maxAttempts: 5, backoffMultiplier: 2, memoryReductionFactor: 0.5 });
  });

  it('undefined values mean "use the default", for retry as for any other key', () => {
    const settings = resolveSettings({ maxQueueSize: undefined, retry: undefined });
    expect(settings.maxQueueSize).toBe(100);
    expect(settings.retry.maxAttempts).toBe(3);
    expect(resolveSettings({ retry: { maxAttempts: undefined } }).retry.maxAttempts).toBe(3);
  });
});

describe("resolveSettings: the seed's YAML shape", () => {
  it('maps tasks.max_queue_size and tasks.retry.max_attempts', () => {
    const settings = resolveSettings({ tasks: { max_queue_size: 5, retry: { max_attempts: 7 } } });
    expect(settings.maxQueueSize).toBe(5);
    expect(settings.retry.maxAttempts).toBe(7);
    expect(settings.queueTimeoutSeconds).toBe(300);
    expect(settings.retry.backoffMultiplier).toBe(2);
  });

  it("maps every key of the seed's YAML block", () => {
    const settings = resolveSettings({
      tasks: {
        max_queue_size: 10,
        queue_timeout_seconds: 60,
        enable_priority_queue: false,
        enable_resource_tracking: false,
        cleanup_timeout_seconds: 5,
        retry: { max_attempts: 4, backoff_multiplier: 3, memory_reduction_factor: 0.25 },
      },
    });
    expect(settings).toMatchObject({
      maxQueueSize: 10,
      queueTimeoutSeconds: 60,
      enablePriorityQueue: false,
      enableResourceTracking: false,
      cleanupTimeoutSeconds: 5,
      retry: { maxAttempts: 4, backoffMultiplier: 3, memoryReductionFactor: 0.25 },
    });
  });

  it('gives the same settings as the equivalent camelCase input', () => {
    expect(resolveSettings({ tasks: { max_queue_size: 5, retry: { max_attempts: 7, initial_delay_ms: 10 } } })).toEqual(
      resolveSettings({ maxQueueSize: 5, retry: { maxAttempts: 7, initialDelayMs: 10 } }),
    );
  });
});

describe('resolveSettings: rejections name each key in the spelling the user wrote', () => {
  it.each([
    ['an unknown top-level key', { maxQueueSise: 5 }, 'maxQueueSise'],
    ['an unknown retry key', { retry: { maxAttempt: 5 } }, 'retry.maxAttempt'],
    ['a snake_case key in the camelCase shape', { max_queue_size: 5 }, 'max_queue_size'],
    ['an Object.prototype name', { toString: 1 }, 'toString'],
    ['an unknown YAML key', { tasks: { max_queue_sise: 5 } }, 'tasks.max_queue_sise'],
    ['an unknown YAML retry key', { tasks: { retry: { max_attempt: 5 } } }, 'tasks.retry.max_attempt'],
    ['a key beside tasks in the YAML shape', { tasks: {}, runner: {} }, 'runner'],
    ['a camelCase key in the YAML shape', { tasks: { maxQueueSize: 5 } }, 'tasks.maxQueueSize'],
    ['a camelCase retry key in the YAML shape', { tasks: { retry: { maxAttempts: 5 } } }, 'tasks.retry.maxAttempts'],
  ])('rejects %s', (_label, input, key) => {
    const error = rejection(input);
    expect(error.problems).toEqual([{ key, message: expect.stringContaining('not a known setting') }]);
    expect(error.message).toContain(key);
  });

  it.each([
    ['maxQueueSize below 1', { maxQueueSize: 0 }, 'maxQueueSize', /less than 1/],
    ['maxQueueSize above 100000', { maxQueueSize: 100_001 }, 'maxQueueSize', /greater than 100000/],
    ['a fractional maxQueueSize', { maxQueueSize: 1.5 }, 'maxQueueSize', /integer/],
    ['a string maxQueueSize', { maxQueueSize: '5' }, 'maxQueueSize', /integer/],
    ['a null maxQueueSize', { maxQueueSize: null }, 'maxQueueSize', /integer/],
    ['NaN queueTimeoutSeconds', { queueTimeoutSeconds: Number.NaN }, 'queueTimeoutSeconds', /integer/],
    ['Infinity queueTimeoutSeconds', { queueTimeoutSeconds: Number.POSITIVE_INFINITY }, 'queueTimeoutSeconds', /integer/],
    ['a number for a boolean', { enablePriorityQueue: 1 }, 'enablePriorityQueue', /boolean/],
    ['a string for a boolean', { enableResourceTracking: 'true' }, 'enableResourceTracking', /boolean/],
    ['cleanupTimeoutSeconds 0', { cleanupTimeoutSeconds: 0 }, 'cleanupTimeoutSeconds', /less than 1/],
    ['retry.maxAttempts 0', { retry: { maxAttempts: 0 } }, 'retry.maxAttempts', /less than 1/],
    ['retry.backoffMultiplier below 1', { retry: { backoffMultiplier: 0.5 } }, 'retry.backoffMultiplier', /less than 1/],
    ['retry.memoryReductionFactor above 1', { retry: { memoryReductionFactor: 1.5 } }, 'retry.memoryReductionFactor', /greater than 1/],
    ['retry.memoryReductionFactor 0', { retry: { memoryReductionFactor: 0 } }, 'retry.memoryReductionFactor', /less than 0.01/],
    ['retry.jitter above 1', { retry: { jitter: 2 } }, 'retry.jitter', /greater than 1/],
    ['retry as a number', { retry: 3 }, 'retry', /object/],
    ['retry as null', { retry: null }, 'retry', /object/],
    ['retry.maxDelayMs below retry.initialDelayMs', { retry: { initialDelayMs: 10, maxDelayMs: 5 } }, 'retry.maxDelayMs', /retry\.initialDelayMs/],
    ['YAML max_queue_size 0', { tasks: { max_queue_size: 0 } }, 'tasks.max_queue_size', /less than 1/],
    ['YAML retry.max_attempts 0', { tasks: { retry: { max_attempts: 0 } } }, 'tasks.retry.max_attempts', /less than 1/],
    ['YAML enable_priority_queue "yes"', { tasks: { enable_priority_queue: 'yes' } }, 'tasks.enable_priority_queue', /boolean/],
    ['YAML max_delay_ms below initial_delay_ms', { tasks: { retry: { initial_delay_ms: 10, max_delay_ms: 5 } } }, 'tasks.retry.max_delay_ms', /tasks\.retry\.initial_delay_ms/],
    ['YAML tasks as a list', { tasks: [] }, 'tasks', /object/],
    ['YAML tasks as null', { tasks: null }, 'tasks', /object/],
  ])('rejects %s', (_label, input, key, reason) => {
    const error = rejection(input);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]!.key).toBe(key);
    expect(error.problems[0]!.message).toMatch(reason);
    expect(error.message).toContain(key);
  });

  it('messages do not name the other spelling of the key', () => {
    const yaml = rejection({ tasks: { max_queue_size: 0, retry: { max_attempts: 0 } } });
    expect(yaml.message).not.toMatch(/maxQueueSize|maxAttempts/);
    const camel = rejection({ maxQueueSize: 0, retry: { maxAttempts: 0 } });
    expect(camel.message).not.toMatch(/max_queue_size|max_attempts/);
  });

  it('says what value it got', () => {
    expect(rejection({ maxQueueSize: 'lots' }).problems[0]!.message).toContain('"lots"');
  });

  it.each([
    ['null', null],
    ['an array', [{ maxQueueSize: 5 }]],
    ['a string', 'max_queue_size: 5'],
    ['a number', 5],
  ])('rejects %s as the whole input', (_label, input) => {
    expect(rejection(input).problems.length).toBeGreaterThan(0);
  });

  it('reports every problem together, unknown keys and bad values, top-level and nested', () => {
    const error = rejection({ maxQueueSize: 0, enablePriorityQueue: 'no', bogus: 1, retry: { maxAttempts: -1, jitter: 5, extra: true } });
    expect(keysOf(error)).toEqual(['bogus', 'enablePriorityQueue', 'maxQueueSize', 'retry.extra', 'retry.jitter', 'retry.maxAttempts']);
    for (const key of keysOf(error)) expect(error.message).toContain(key);
  });

  it('reports every problem together in the YAML shape', () => {
    const error = rejection({
      tasks: { max_queue_size: -5, queue_timeout_seconds: 'soon', nope: 1, retry: { max_attempts: 0, backoff: 2 } },
      other: true,
    });
    expect(keysOf(error)).toEqual(['other', 'tasks.max_queue_size', 'tasks.nope', 'tasks.queue_timeout_seconds', 'tasks.retry.backoff', 'tasks.retry.max_attempts']);
  });
});

describe('persistEvents: all, none, or a list of event types', () => {
  it('accepts true, false and a list of known event types (also in the YAML shape)', () => {
    expect(resolveSettings({ persistEvents: false }).persistEvents).toBe(false);
    expect(resolveSettings({ persistEvents: ['failed', 'out_of_memory'] }).persistEvents).toEqual(['failed', 'out_of_memory']);
    expect(resolveSettings({ tasks: { persist_events: ['cancelled'] } }).persistEvents).toEqual(['cancelled']);
  });

  it('rejects unknown event types and other values, naming the key', () => {
    expect(() => resolveSettings({ persistEvents: ['failed', 'explode'] })).toThrow(/persistEvents .*"explode"/);
    expect(() => resolveSettings({ persistEvents: 'yes' as unknown as boolean })).toThrow(/persistEvents/);
    expect(() => resolveSettings({ tasks: { persist_events: 3 } })).toThrow(/tasks\.persist_events/);
  });
});

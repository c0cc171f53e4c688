import { plainToInstance, Type } from 'class-transformer';
import { Allow, IsBoolean, IsInt, IsNumber, Max, Min, ValidateNested, validateSync, type ValidationError } from 'class-validator';
import { SettingsValidationError } from './errors';
import { TaskEventType } from '../events/event-map';

const EVENT_TYPES: readonly string[] = Object.values(TaskEventType);

/** Retry policy for failed tasks (seed: `tasks.retry`). */
export class RetrySettings {
  /** Attempts a task gets before it ends in ERROR. @defaultValue 3 */
  @IsInt() @Min(1) @Max(1000)
  maxAttempts = 3;

  /** Each retry waits `initialDelayMs * backoffMultiplier^(attempt-1)`, with jitter. @defaultValue 2 */
  @IsNumber() @Min(1) @Max(100)
  backoffMultiplier = 2;

  /** Batch size multiplier applied when a task is requeued after running out of memory. @defaultValue 0.5 */
  @IsNumber() @Min(0.01) @Max(1)
  memoryReductionFactor = 0.5;

  /** Delay before the first retry. @defaultValue 1000 */
  @IsInt() @Min(0) @Max(2_147_483_647)
  initialDelayMs = 1000;

  /** Upper bound of any retry delay. @defaultValue 3_600_000 (one hour) */
  @IsInt() @Min(0) @Max(2_147_483_647)
  maxDelayMs = 3_600_000;

  /** Random share of each delay (0 = none, 0.25 = ±25 %), so retries of a burst spread out. @defaultValue 0.25 */
  @IsNumber() @Min(0) @Max(1)
  jitter = 0.25;
}

/** Every setting of upkeep, with the second seed's defaults. */
export class UpkeepSettings {
  /** Most tasks a runner holds in its local queue (claimed but not started). @defaultValue 100 */
  @IsInt() @Min(1) @Max(100_000)
  maxQueueSize = 100;

  /** A task waiting in a runner's local queue longer than this is handed back to the database. @defaultValue 300 */
  @IsInt() @Min(1) @Max(2_147_483)
  queueTimeoutSeconds = 300;

  /** Order the local queue by priority (true) or strictly first-in first-out (false). @defaultValue true */
  @IsBoolean()
  enablePriorityQueue = true;

  /** Record memory estimates, devices, service instances and `task_metrics` samples. @defaultValue true */
  @IsBoolean()
  enableResourceTracking = true;

  /** Longest time cleanup hooks of one task may take before they are cut off. @defaultValue 30 */
  @IsInt() @Min(1) @Max(2_147_483)
  cleanupTimeoutSeconds = 30;

  /** After an out-of-memory failure on a GPU, retry the task on the CPU. @defaultValue true */
  @IsBoolean()
  oomCpuFallback = true;

  /** How often running tasks' memory is sampled into `task_metrics` (with resource tracking on). @defaultValue 5000 */
  @IsInt() @Min(100) @Max(2_147_483_647)
  metricsIntervalMs = 5000;

  /**
   * Which lifecycle events are stored in `task_events` (batched): `true` all, `false` none, or
   * a list of `TaskEventType` values (e.g. `['failed', 'cancelled', 'out_of_memory']` to keep
   * only what needs attention on a high-volume queue). @defaultValue true
   */
  @Allow()
  persistEvents: boolean | string[] = true;

  /** Default per-task timeout when a processor sets none. @defaultValue 300_000 (five minutes) */
  @IsInt() @Min(1) @Max(2_147_483_647)
  defaultTimeoutMs = 300_000;

  /** Retry policy. */
  @ValidateNested() @Type(() => RetrySettings)
  retry: RetrySettings = new RetrySettings();
}

/** Settings as a user passes them: any subset, in camelCase. */
export type UpkeepSettingsInput = Partial<Omit<UpkeepSettings, 'retry'>> & { retry?: Partial<RetrySettings> };

/** The seed's YAML shape, e.g. `{ tasks: { max_queue_size: 100, retry: { max_attempts: 3 } } }`. */
export interface UpkeepYamlSettings {
  tasks: Record<string, unknown>;
}

const snakeToCamel = (key: string) => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const camelToSnake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const TOP_KEYS = Object.keys(new UpkeepSettings());
const RETRY_KEYS = Object.keys(new RetrySettings());

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates settings (camelCase, or the seed's YAML shape under `tasks:` in snake_case),
 * applies defaults and returns a frozen, complete settings object. Unknown keys and
 * out-of-range values throw {@link SettingsValidationError} naming every offending key.
 */
export function resolveSettings(input: UpkeepSettingsInput | UpkeepYamlSettings | undefined = {}): UpkeepSettings {
  if (!isPlainObject(input)) {
    throw new SettingsValidationError([{ key: '(root)', message: 'must be a plain object' }]);
  }
  const yaml = 'tasks' in input;
  const problems: { key: string; message: string }[] = [];
  let source: Record<string, unknown> = input as Record<string, unknown>;
  if (yaml) {
    const extra = Object.keys(input).filter((k) => k !== 'tasks');
    for (const k of extra) problems.push({ key: k, message: 'is not a known setting (the YAML shape has only "tasks")' });
    if (!isPlainObject(input.tasks)) {
      throw new SettingsValidationError([{ key: 'tasks', message: 'must be an object' }, ...problems]);
    }
    source = input.tasks;
  }
  const name = (key: string, parent?: string) => {
    const shown = yaml ? camelToSnake(key) : key;
    const prefix = yaml ? 'tasks.' : '';
    return parent ? `${prefix}${parent}.${shown}` : `${prefix}${shown}`;
  };

  const top: Record<string, unknown> = {};
  for (const [rawKey, value] of Object.entries(source)) {
    const key = yaml ? snakeToCamel(rawKey) : rawKey;
    // The YAML shape is snake_case only, so each setting has one spelling there.
    if (!TOP_KEYS.includes(key) || (yaml && camelToSnake(key) !== rawKey)) {
      problems.push({ key: yaml ? `tasks.${rawKey}` : rawKey, message: 'is not a known setting' });
      continue;
    }
    if (key === 'retry') {
      if (value === undefined) continue;
      if (!isPlainObject(value)) {
        problems.push({ key: name('retry'), message: 'must be an object' });
        continue;
      }
      const retry: Record<string, unknown> = {};
      for (const [rawRetryKey, retryValue] of Object.entries(value)) {
        const retryKey = yaml ? snakeToCamel(rawRetryKey) : rawRetryKey;
        if (!RETRY_KEYS.includes(retryKey) || (yaml && camelToSnake(retryKey) !== rawRetryKey)) {
          problems.push({ key: `${yaml ? 'tasks.' : ''}retry.${rawRetryKey}`, message: 'is not a known setting' });
          continue;
        }
        if (retryValue !== undefined) retry[retryKey] = retryValue;
      }
      top.retry = { ...new RetrySettings(), ...retry };
      continue;
    }
    if (value !== undefined) top[key] = value;
  }

  const settings = plainToInstance(UpkeepSettings, { ...new UpkeepSettings(), ...top });
  if (!(settings.retry instanceof RetrySettings)) settings.retry = plainToInstance(RetrySettings, (settings.retry ?? {}) as object) as RetrySettings;
  const collect = (errors: ValidationError[], parent?: string) => {
    for (const error of errors) {
      if (error.children?.length) collect(error.children, error.property);
      if (error.constraints) {
        // class-validator starts each message with the camelCase property; the key already names it.
        const messages = Object.values(error.constraints).map((m) => (m.startsWith(`${error.property} `) ? m.slice(error.property.length + 1) : m));
        problems.push({
          key: name(error.property, parent),
          message: `${messages.join(', ')} (got ${JSON.stringify(error.value)})`,
        });
      }
    }
  };
  collect(validateSync(settings, { forbidUnknownValues: false }));
  const persist: unknown = settings.persistEvents;
  if (typeof persist !== 'boolean') {
    const bad = !Array.isArray(persist) ? [persist] : persist.filter((t) => typeof t !== 'string' || !EVENT_TYPES.includes(t));
    if (!Array.isArray(persist) || bad.length) {
      problems.push({
        key: name('persistEvents'),
        message: `must be true, false, or a list of event types (${EVENT_TYPES.join(', ')}); got ${JSON.stringify(Array.isArray(persist) ? bad : persist)}`,
      });
    }
  }
  if (settings.retry.maxDelayMs < settings.retry.initialDelayMs) {
    problems.push({ key: name('maxDelayMs', 'retry'), message: `must be >= ${name('initialDelayMs', 'retry')}` });
  }
  if (problems.length) throw new SettingsValidationError(problems);
  Object.freeze(settings.retry);
  if (Array.isArray(settings.persistEvents)) settings.persistEvents = Object.freeze([...settings.persistEvents]) as string[];
  return Object.freeze(settings);
}

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import * as root from '../../../src';
import * as errors from '../../../src/core/errors';
import { isUpkeepError, UpkeepError, type UpkeepErrorCode } from '../../../src/core/errors';

type ErrorClass = new (...args: never[]) => Error;

/**
 * The stable code of every error class. Codes are public API: a new class needs a line
 * here, and an existing line never changes.
 */
const STABLE_CODES: Record<string, UpkeepErrorCode> = {
  DeviceUnavailableError: 'DEVICE_UNAVAILABLE',
  ForbiddenError: 'FORBIDDEN',
  IllegalTransitionError: 'ILLEGAL_TRANSITION',
  InvalidArgumentError: 'INVALID_ARGUMENT',
  InvalidReleaseError: 'POOL_INVALID_RELEASE',
  MemoryLimitExceededError: 'MEMORY_LIMIT_EXCEEDED',
  MissingPeerDependencyError: 'MISSING_PEER_DEPENDENCY',
  OutOfMemoryError: 'OUT_OF_MEMORY',
  PayloadTooLargeError: 'PAYLOAD_TOO_LARGE',
  PoolClosedError: 'POOL_CLOSED',
  PoolExhaustedError: 'POOL_EXHAUSTED',
  ProcessorRegistrationError: 'PROCESSOR_REGISTRATION',
  ProcessorValidationError: 'PROCESSOR_VALIDATION',
  RateLimitedError: 'RATE_LIMITED',
  ResultSerializationError: 'RESULT_NOT_SERIALIZABLE',
  RouteNotFoundError: 'ROUTE_NOT_FOUND',
  SettingsValidationError: 'INVALID_SETTINGS',
  TaskCancelledError: 'CANCELLED',
  TaskInterruptedError: 'INTERRUPTED',
  TaskNotFoundError: 'TASK_NOT_FOUND',
  TaskTimeoutError: 'TIMEOUT',
  UnauthorizedError: 'UNAUTHORIZED',
  UnknownProcessorError: 'UNKNOWN_PROCESSOR',
  UnrecoverableTaskError: 'UNRECOVERABLE',
  UnsupportedDatabaseError: 'UNSUPPORTED_DATABASE',
  UnsupportedMediaTypeError: 'UNSUPPORTED_MEDIA_TYPE',
};

/** Classes whose constructor is not `(message, { cause })`, built with representative arguments. */
const SPECIAL: Record<string, (cls: ErrorClass) => Error> = {
  IllegalTransitionError: (cls) => new (cls as never as new (...a: unknown[]) => Error)('task-1', 'COMPLETED', 'PENDING', 'finished tasks stay finished'),
  ProcessorValidationError: (cls) =>
    new (cls as never as new (...a: unknown[]) => Error)('my-type', [{ property: 'userIds', constraints: { isArray: 'userIds must be an array' } }]),
  SettingsValidationError: (cls) => new (cls as never as new (...a: unknown[]) => Error)([{ key: 'maxQueueSize', message: 'must be >= 1' }]),
  TaskInterruptedError: (cls) => new (cls as never as new (...a: unknown[]) => Error)('pause', 'paused by an admin'),
};

const isErrorClass = (value: unknown): value is ErrorClass =>
  typeof value === 'function' && (value === Error || (value as { prototype?: unknown }).prototype instanceof Error);

/** Every error class exported by src/core/errors, except the base. */
const errorClasses = Object.entries(errors).filter(([, value]) => isErrorClass(value) && value !== UpkeepError) as Array<[string, ErrorClass]>;

function build(name: string, cls: ErrorClass, cause?: unknown): Error {
  const special = SPECIAL[name];
  if (special) return special(cls);
  return new (cls as never as new (message: string, options?: { cause?: unknown }) => Error)(`something about ${name}`, cause === undefined ? undefined : { cause });
}

const errorsDir = join(dirname(fileURLToPath(import.meta.url)), '../../../src/core/errors');
const sources = readdirSync(errorsDir)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => readFileSync(join(errorsDir, f), 'utf8'));

describe('error classes', () => {
  it('finds the error classes (guards the test itself)', () => {
    expect(errorClasses.length).toBeGreaterThanOrEqual(Object.keys(STABLE_CODES).length);
  });

  it('every exported error class has a stable code listed here, and no two classes share one', () => {
    const missing = errorClasses.map(([name]) => name).filter((name) => !(name in STABLE_CODES));
    expect(missing, 'add a line to STABLE_CODES for each new error class').toEqual([]);
    const gone = Object.keys(STABLE_CODES).filter((name) => !errorClasses.some(([n]) => n === name));
    expect(gone, 'an error class was removed or renamed: that breaks users').toEqual([]);
    expect(new Set(Object.values(STABLE_CODES)).size).toBe(Object.keys(STABLE_CODES).length);
  });

  describe.each(errorClasses)('%s', (name, cls) => {
    const error = build(name, cls);

    it('is an UpkeepError and an Error', () => {
      expect(error).toBeInstanceOf(cls);
      expect(error).toBeInstanceOf(UpkeepError);
      expect(error).toBeInstanceOf(Error);
      expect(isUpkeepError(error)).toBe(true);
    });

    it('has its stable code', () => {
      expect((error as UpkeepError).code).toBe(STABLE_CODES[name]);
    });

    it('has name equal to the class name, and the stack starts with it', () => {
      expect(error.name).toBe(name);
      expect(cls.name).toBe(name);
      expect(String(error)).toMatch(new RegExp(`^${name}: `));
      expect(error.stack?.split('\n')[0]).toMatch(new RegExp(`^${name}: `));
    });

    it('sets name as a string literal in its source, so minified builds keep it', () => {
      const source = sources.find((s) => new RegExp(`export class ${name} extends `).test(s));
      expect(source, `no source file declares ${name}`).toBeDefined();
      expect(source).toContain(`this.name = '${name}';`);
    });

    it('has a non-empty message', () => {
      expect(error.message.length).toBeGreaterThan(0);
    });

    if (!SPECIAL[name]) {
      it('keeps the cause', () => {
        const cause = new TypeError('root cause');
        const withCause = build(name, cls, cause);
        expect(withCause.cause).toBe(cause);
        expect(build(name, cls).cause).toBeUndefined();
        const nonError = build(name, cls, 'a string cause');
        expect(nonError.cause).toBe('a string cause');
      });
    }
  });

  it('the base class itself carries code and marker', () => {
    const cause = new Error('inner');
    const error = new UpkeepError('INVALID_ARGUMENT', 'base', { cause });
    expect(error.name).toBe('UpkeepError');
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.isUpkeepError).toBe(true);
    expect(error.cause).toBe(cause);
  });

  it('the special-argument classes keep their extra fields and put them in the message', () => {
    const transition = build('IllegalTransitionError', errors.IllegalTransitionError as ErrorClass) as errors.IllegalTransitionError;
    expect(transition).toMatchObject({ taskId: 'task-1', from: 'COMPLETED', to: 'PENDING' });
    expect(transition.message).toContain('task-1');
    expect(transition.message).toContain('COMPLETED');
    expect(transition.message).toContain('finished tasks stay finished');
    const validation = build('ProcessorValidationError', errors.ProcessorValidationError as ErrorClass) as errors.ProcessorValidationError;
    expect(validation.processorType).toBe('my-type');
    expect(validation.problems).toHaveLength(1);
    expect(validation.message).toContain('userIds must be an array');
    const settings = build('SettingsValidationError', errors.SettingsValidationError as ErrorClass) as errors.SettingsValidationError;
    expect(settings.message).toContain('maxQueueSize must be >= 1');
    const interrupted = build('TaskInterruptedError', errors.TaskInterruptedError as ErrorClass) as errors.TaskInterruptedError;
    expect(interrupted.kind).toBe('pause');
  });

  it('every Error class the root entry exports is an UpkeepError (no plain Errors in the public API)', () => {
    const rootErrors = Object.entries(root).filter(([, value]) => isErrorClass(value)) as Array<[string, ErrorClass]>;
    expect(rootErrors.length).toBeGreaterThan(0);
    for (const [name, cls] of rootErrors) {
      expect(cls === UpkeepError || cls.prototype instanceof UpkeepError, `${name} must extend UpkeepError`).toBe(true);
    }
    for (const [name] of errorClasses) expect(root, `${name} is not exported from the root entry`).toHaveProperty(name);
    expect(root.isUpkeepError).toBe(isUpkeepError);
  });
});

describe('isUpkeepError', () => {
  it('is false for plain errors and non-errors', () => {
    for (const value of [new Error('x'), new TypeError('x'), null, undefined, 'UpkeepError', 42, {}, [], () => 1]) {
      expect(isUpkeepError(value)).toBe(false);
    }
  });

  it('is true for an object shaped like one from another copy of the module', () => {
    expect(isUpkeepError({ name: 'InvalidArgumentError', message: 'x', code: 'INVALID_ARGUMENT', isUpkeepError: true })).toBe(true);
    const foreign = Object.assign(new Error('from another copy'), { code: 'TIMEOUT', isUpkeepError: true as const });
    expect(isUpkeepError(foreign)).toBe(true);
  });

  it('needs both the marker (exactly true) and a string code', () => {
    expect(isUpkeepError({ isUpkeepError: true })).toBe(false);
    expect(isUpkeepError({ isUpkeepError: 'true', code: 'TIMEOUT' })).toBe(false);
    expect(isUpkeepError({ isUpkeepError: 1, code: 'TIMEOUT' })).toBe(false);
    expect(isUpkeepError({ isUpkeepError: true, code: 42 })).toBe(false);
    expect(isUpkeepError({ code: 'TIMEOUT' })).toBe(false);
  });

  it('recognises errors of a second, separately loaded copy of the errors module (where instanceof fails)', async () => {
    vi.resetModules();
    const copy = (await import('../../../src/core/errors/index')) as typeof errors;
    expect(copy.InvalidArgumentError).not.toBe(errors.InvalidArgumentError);
    const foreign = new copy.InvalidArgumentError('from the other copy');
    expect(foreign instanceof UpkeepError).toBe(false);
    expect(isUpkeepError(foreign)).toBe(true);
    expect(copy.isUpkeepError(new errors.TaskTimeoutError('from this copy'))).toBe(true);
    expect(foreign.code).toBe('INVALID_ARGUMENT');
    expect(foreign.name).toBe('InvalidArgumentError');
  });
});

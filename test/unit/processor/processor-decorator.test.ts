import { describe, expect, it } from 'vitest';
import {
  getProcessorMetadata,
  InvalidArgumentError,
  isUpkeepError,
  MaintenanceTaskProcessor,
  Processor,
  PROCESSOR_METADATA,
} from '../../../src';

/** Applies `@Processor(name, options)` to a fresh class and returns it. */
function decorate(name: unknown, options?: Parameters<typeof Processor>[1]) {
  class Decorated extends MaintenanceTaskProcessor {
    process() {
      return null;
    }
  }
  Processor(name as string, options)(Decorated);
  return Decorated;
}

describe('@Processor(name)', () => {
  it.each([
    'a',
    'user-version-upgrade',
    'my.app/user-upgrade:v2',
    'Snake_Case_9',
    '0starts-with-digit',
    'a'.repeat(255),
  ])('accepts the name %j and stores it on the class', (name) => {
    const cls = decorate(name);
    expect(getProcessorMetadata(cls)).toEqual({ name, options: {} });
  });

  it.each([
    ['the empty string', ''],
    ['a leading dash', '-abc'],
    ['a leading dot', '.abc'],
    ['a leading slash', '/abc'],
    ['a space', 'user upgrade'],
    ['a leading space', ' user'],
    ['a trailing newline', 'user\n'],
    ['a tab', 'a\tb'],
    ['non-ASCII letters', 'héllo'],
    ['an emoji', 'task-🚀'],
    ['quotes', 'a"b'],
    ['256 characters', 'a'.repeat(256)],
  ])('rejects %s with an InvalidArgumentError quoting the name', (_label, name) => {
    let thrown: unknown;
    try {
      Processor(name);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidArgumentError);
    expect(isUpkeepError(thrown)).toBe(true);
    expect((thrown as InvalidArgumentError).code).toBe('INVALID_ARGUMENT');
    expect((thrown as Error).message).toContain('@Processor(name)');
    expect((thrown as Error).message).toContain(JSON.stringify(name));
  });

  it.each([undefined, null, 42, {}, ['a'], Symbol.for('a')])('rejects the non-string name %s', (name) => {
    expect(() => Processor(name as unknown as string)).toThrow(InvalidArgumentError);
  });

  it('fails when the decorator is built, before it touches any class', () => {
    class Untouched extends MaintenanceTaskProcessor {
      process() {
        return null;
      }
    }
    expect(() => Processor('bad name')(Untouched)).toThrow(InvalidArgumentError);
    expect(getProcessorMetadata(Untouched)).toBeUndefined();
  });

  it('stores the options, frozen, and copies them so later edits of the caller object do not leak in', () => {
    const options = { maxAttempts: 5, timeoutMs: 1000, priority: 3, backoff: { multiplier: 3 } };
    const cls = decorate('with-options', options);
    options.maxAttempts = 99;
    const meta = getProcessorMetadata(cls)!;
    expect(meta.options.maxAttempts).toBe(5);
    expect(meta.options).toEqual({ maxAttempts: 5, timeoutMs: 1000, priority: 3, backoff: { multiplier: 3 } });
    expect(Object.isFrozen(meta)).toBe(true);
    expect(Object.isFrozen(meta.options)).toBe(true);
  });

  it.each<[string, unknown, RegExp]>([
    ['an unknown option', { maxAttempt: 3 }, /unknown option "maxAttempt"/],
    ['an unknown backoff option', { backoff: { factor: 2 } }, /unknown option "backoff\.factor"/],
    ['maxAttempts 0', { maxAttempts: 0 }, /maxAttempts/],
    ['a fractional timeoutMs', { timeoutMs: 1.5 }, /timeoutMs/],
    ['a timeoutMs past the timer limit', { timeoutMs: 2 ** 31 }, /timeoutMs/],
    ['a priority out of range', { priority: 1_000_001 }, /priority/],
    ['a backoff multiplier below 1', { backoff: { multiplier: 0.5 } }, /backoff\.multiplier/],
    ['a NaN backoff multiplier', { backoff: { multiplier: Number.NaN } }, /backoff\.multiplier/],
    ['a negative backoff.initialDelayMs', { backoff: { initialDelayMs: -1 } }, /backoff\.initialDelayMs/],
    ['backoff that is not an object', { backoff: 2 }, /backoff/],
    ['options that are not an object', null, /options/],
  ])('rejects %s with an InvalidArgumentError naming the processor and the key', (_label, options, pattern) => {
    let thrown: unknown;
    try {
      Processor('bad-options', options as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidArgumentError);
    expect((thrown as Error).message).toContain('"bad-options"');
    expect((thrown as Error).message).toMatch(pattern);
  });

  it('accepts every option at its bounds', () => {
    const options = { maxAttempts: 1000, timeoutMs: 2 ** 31 - 1, priority: -1_000_000, backoff: { initialDelayMs: 0, multiplier: 100, maxDelayMs: 0 } };
    expect(getProcessorMetadata(decorate('bounds', options))?.options).toEqual(options);
  });

  it('keeps the metadata under the global symbol, not enumerable, so ESM and CJS copies read the same thing', () => {
    const cls = decorate('symbol-check');
    expect(PROCESSOR_METADATA).toBe(Symbol.for('upkeep.processor'));
    expect(Object.getOwnPropertyDescriptor(cls, PROCESSOR_METADATA)?.enumerable).toBe(false);
    expect(Object.getOwnPropertySymbols(cls)).toContain(PROCESSOR_METADATA);
  });

  it('metadata is read only from the class itself: a subclass does not inherit its parent name', () => {
    const parent = decorate('parent-name');
    class Child extends parent {}
    expect(getProcessorMetadata(parent)?.name).toBe('parent-name');
    expect(getProcessorMetadata(Child)).toBeUndefined();
    Processor('child-name')(Child);
    expect(getProcessorMetadata(Child)?.name).toBe('child-name');
    expect(getProcessorMetadata(parent)?.name).toBe('parent-name');
  });

  it('getProcessorMetadata returns undefined for anything that is not a decorated class', () => {
    for (const value of [undefined, null, 1, 'x', {}, () => 1, class {}]) {
      expect(getProcessorMetadata(value)).toBeUndefined();
    }
  });
});

import { describe, expect, it } from 'vitest';
import { completedInfo, errorOfInfo, failureInfo, LAST_ERROR_MAX_CHARS, lastErrorText } from '../../../src/core/task-info';

describe('task info shapes', () => {
  it('completedInfo: an object as it is, another value as { result }, nothing as null', () => {
    const returned = { processed: true };
    expect(completedInfo(returned)).toBe(returned);
    expect(completedInfo({})).toEqual({});
    expect(completedInfo(7)).toEqual({ result: 7 });
    expect(completedInfo('x')).toEqual({ result: 'x' });
    expect(completedInfo(false)).toEqual({ result: false });
    expect(completedInfo([1])).toEqual({ result: [1] });
    expect(completedInfo(null)).toBeNull();
    expect(completedInfo(undefined)).toBeNull();
  });

  it('failureInfo: message, name, code when there is one, attempt; read back by errorOfInfo', () => {
    expect(failureInfo({ name: 'Error', message: 'Test error', stack: 'Error: Test error\n    at x' }, 1)).toEqual({ error: 'Test error', errorName: 'Error', attempt: 1 });
    const coded = failureInfo({ name: 'TaskTimeoutError', message: 'Timed out', code: 'TIMEOUT' }, 2);
    expect(coded).toEqual({ error: 'Timed out', errorName: 'TaskTimeoutError', errorCode: 'TIMEOUT', attempt: 2 });
    expect(errorOfInfo(coded)).toEqual({ name: 'TaskTimeoutError', message: 'Timed out', code: 'TIMEOUT' });
    expect(errorOfInfo({ processed: true })).toBeUndefined();
    expect(errorOfInfo(null)).toBeUndefined();
  });

  it('lastErrorText: the message, then the stack without the head repeating it', () => {
    expect(lastErrorText({ message: 'boom', stack: 'Error: boom\n    at a (f.js:1:1)' })).toBe('boom\n    at a (f.js:1:1)');
    // The name changed after the error was made: the head still goes.
    expect(lastErrorText({ message: 'boom', stack: 'Error: boom\n    at a' })).toBe('boom\n    at a');
    // A multi-line message is kept whole, once.
    expect(lastErrorText({ message: 'two\nlines', stack: 'Error: two\nlines\n    at a' })).toBe('two\nlines\n    at a');
    expect(lastErrorText({ message: 'no stack' })).toBe('no stack');
    // A stack that does not start with the message is kept as it is.
    expect(lastErrorText({ message: 'm', stack: 'custom stack' })).toBe('m\ncustom stack');
  });

  it('lastErrorText: bounded, the message first; a cut surrogate pair is storable', () => {
    const long = lastErrorText({ message: 'first', stack: `Error: first\n${'    at f (x.js:1:1)\n'.repeat(1000)}` });
    expect(long.length).toBe(LAST_ERROR_MAX_CHARS);
    expect(long.startsWith('first\n    at f')).toBe(true);
    expect(long.endsWith('…')).toBe(true);
    const huge = lastErrorText({ message: 'x'.repeat(20_000) });
    expect(huge.length).toBe(LAST_ERROR_MAX_CHARS);
    const emoji = lastErrorText({ message: `${'a'.repeat(LAST_ERROR_MAX_CHARS - 2)}😀😀` });
    expect(emoji).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
  });
});

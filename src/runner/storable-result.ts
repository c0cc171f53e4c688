import { ResultSerializationError } from '../core/errors';
import type { JsonValue } from '../entities/maintenance-task.entity';

import { storableText, UNSTORABLE_TEXT } from '../core/storable-text';

export { storableText };

/** Bounds on a processor's result: writing it must not hold the event loop past a heartbeat. */
export const RESULT_LIMITS = Object.freeze({
  /** Most characters of a result as JSON; a larger one ends the task in ERROR `result_not_serializable`. */
  maxJsonChars: 16 * 1024 * 1024,
});

/**
 * Checks that a processor's result survives a JSON round trip unchanged in meaning and
 * returns the JSON value to store. `undefined` becomes `null`; Dates become ISO strings
 * (as JSON.stringify does). Functions, symbols, bigints, non-finite numbers, Maps, Sets
 * and cycles are rejected with a message naming the path.
 */
export function toStorableResult(value: unknown, options: { jsonb?: boolean; maxJsonChars?: number } = {}): JsonValue {
  // `jsonb` (default): also refuse text PostgreSQL's jsonb cannot hold (NUL, lone surrogates).
  const checkText = options.jsonb !== false;
  const maxChars = options.maxJsonChars ?? Infinity;
  if (value === undefined) return null;
  const seen = new Set<object>();
  let chars = 0;
  const count = (n: number) => {
    chars += n;
    if (chars > maxChars) {
      throw new ResultSerializationError(`result is more than ${Math.round(maxChars / 1048576)} MiB as JSON, above the limit (store large data elsewhere and return a reference to it)`);
    }
  };
  const walk = (v: unknown, path: string): JsonValue => {
    if (v === null) return null;
    count(typeof v === 'string' ? v.length + 2 : 8);
    switch (typeof v) {
      case 'string':
        if (checkText && UNSTORABLE_TEXT.test(v)) {
          throw new ResultSerializationError(`result${path} holds a NUL character or a lone surrogate, which JSON columns (PostgreSQL jsonb) cannot store`);
        }
        return v;
      case 'boolean':
        return v;
      case 'number':
        if (!Number.isFinite(v)) throw new ResultSerializationError(`result${path} is ${v}, which JSON cannot store`);
        return v;
      case 'undefined':
        return null;
      case 'bigint':
        throw new ResultSerializationError(`result${path} is a bigint, which JSON cannot store (convert it to a string)`);
      case 'function':
      case 'symbol':
        throw new ResultSerializationError(`result${path} is a ${typeof v}, which JSON cannot store`);
      default:
        break;
    }
    const obj = v as object;
    if (obj instanceof Date) {
      if (Number.isNaN(obj.getTime())) throw new ResultSerializationError(`result${path} is an invalid Date`);
      return obj.toISOString();
    }
    if (obj instanceof Map || obj instanceof Set || obj instanceof WeakMap || obj instanceof WeakSet || obj instanceof Promise) {
      throw new ResultSerializationError(`result${path} is a ${obj.constructor.name}, which JSON cannot store (convert it to an array or object)`);
    }
    if (seen.has(obj)) throw new ResultSerializationError(`result${path} refers back to itself (a cycle), which JSON cannot store`);
    seen.add(obj);
    try {
      if (Array.isArray(obj)) return obj.map((item, i) => walk(item, `${path}[${i}]`));
      const toJSON = (obj as { toJSON?: () => unknown }).toJSON;
      if (typeof toJSON === 'function') return walk(toJSON.call(obj), path);
      const out: Record<string, JsonValue> = {};
      for (const [key, item] of Object.entries(obj)) {
        if (item === undefined) continue;
        count(key.length + 3);
        if (checkText && UNSTORABLE_TEXT.test(key)) throw new ResultSerializationError(`result${path} has a key with a NUL character or a lone surrogate`);
        out[key] = walk(item, `${path}.${key}`);
      }
      return out;
    } finally {
      seen.delete(obj);
    }
  };
  return walk(value, '');
}

/**
 * Readable description of any thrown value: its message goes to `info.error`, its name to
 * `info.errorName`, its message and stack to `last_error` (bounded there, see `lastErrorText`);
 * every text in it is storable on every dialect.
 */
export function describeThrown(thrown: unknown): { name: string; message: string; code?: string; stack?: string } {
  if (thrown instanceof Error) {
    const code = (thrown as { code?: unknown }).code;
    return {
      name: storableText(String(thrown.name)),
      message: storableText(String(thrown.message)),
      ...(typeof code === 'string' ? { code: storableText(code) } : {}),
      // Cut to a bound well above last_error's (which keeps the message and as much of this as fits).
      ...(thrown.stack ? { stack: storableText(String(thrown.stack).slice(0, 64 * 1024)) } : {}),
    };
  }
  let shown: string;
  try {
    shown = typeof thrown === 'string' ? JSON.stringify(thrown) : thrown === undefined ? 'undefined' : JSON.stringify(thrown) ?? String(thrown);
  } catch {
    shown = String(thrown);
  }
  return { name: 'NonErrorThrown', message: storableText(`Processor threw a non-Error value: ${shown}`) };
}

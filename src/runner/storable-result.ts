import { ResultSerializationError } from '../core/errors';
import type { JsonValue } from '../entities/maintenance-task.entity';

/** NUL, and UTF-16 surrogates without their pair: valid in JS strings, refused by jsonb. */
const UNSTORABLE_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Checks that a processor's result survives a JSON round trip unchanged in meaning and
 * returns the JSON value to store. `undefined` becomes `null`; Dates become ISO strings
 * (as JSON.stringify does). Functions, symbols, bigints, non-finite numbers, Maps, Sets
 * and cycles are rejected with a message naming the path.
 */
export function toStorableResult(value: unknown, options: { jsonb?: boolean } = {}): JsonValue {
  // `jsonb` (default): also refuse text PostgreSQL's jsonb cannot hold (NUL, lone surrogates).
  const checkText = options.jsonb !== false;
  if (value === undefined) return null;
  const seen = new Set<object>();
  const walk = (v: unknown, path: string): JsonValue => {
    if (v === null) return null;
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

/** Readable description of any thrown value, for `info.error`. */
export function describeThrown(thrown: unknown): { name: string; message: string; code?: string; stack?: string } {
  if (thrown instanceof Error) {
    const code = (thrown as { code?: unknown }).code;
    return {
      name: thrown.name,
      message: stripNul(thrown.message),
      ...(typeof code === 'string' ? { code } : {}),
      ...(thrown.stack ? { stack: thrown.stack.split('\n').slice(0, 8).join('\n') } : {}),
    };
  }
  let shown: string;
  try {
    shown = typeof thrown === 'string' ? JSON.stringify(thrown) : thrown === undefined ? 'undefined' : JSON.stringify(thrown) ?? String(thrown);
  } catch {
    shown = String(thrown);
  }
  return { name: 'NonErrorThrown', message: stripNul(`Processor threw a non-Error value: ${shown}`) };
}

/** Error text goes into text and JSON columns: drop NULs (PostgreSQL refuses them). */
function stripNul(text: string): string {
  return text.includes('\u0000') ? text.replace(/\u0000/g, '\\0') : text;
}

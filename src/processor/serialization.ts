import { instanceToPlain, plainToInstance } from 'class-transformer';
import { getMetadataStorage, validateSync, type ValidationError } from 'class-validator';
import { InvalidArgumentError, ProcessorValidationError, type PropertyProblem } from '../core/errors';
import { toStorableResult } from '../runner/storable-result';

function flatten(errors: ValidationError[], parent = ''): PropertyProblem[] {
  const out: PropertyProblem[] = [];
  for (const error of errors) {
    const property = parent ? `${parent}.${error.property}` : error.property;
    if (error.constraints) out.push({ property, constraints: { ...error.constraints } });
    if (error.children?.length) out.push(...flatten(error.children, property));
  }
  return out;
}

/**
 * What is known of a class's class-validator metadata (its own or inherited): `true` when it
 * has some (for good: the storage never forgets metadata), or the number of classes the
 * storage held when it had none. Metadata for such a class can only appear with a new key in
 * the storage (its own or an ancestor's: an ancestor with metadata already would have made the
 * answer "has some"), so while the count is the same the answer holds.
 */
const validatorsOf = new WeakMap<object, true | number>();

/** The size of class-validator's metadata map by class, or undefined when its layout is not the one known here (then nothing is cached). */
function validatorClassCount(): number | undefined {
  const map = (getMetadataStorage() as unknown as { validationMetadatas?: unknown }).validationMetadatas;
  return map instanceof Map ? map.size : undefined;
}

/** Whether class-validator holds no metadata for `cls` or a class it extends (then `validateSync` finds nothing to check). */
function hasNoValidators(cls: object): boolean {
  const known = validatorsOf.get(cls);
  if (known === true) return false;
  const count = validatorClassCount();
  if (count === undefined) return false;
  if (known === count) return true;
  // Exactly the metadata validateSync would use (no groups, `always` off, no schema).
  const none = !getMetadataStorage().getTargetValidationMetadatas(cls as new () => unknown, undefined as unknown as string, false, false, undefined).length;
  validatorsOf.set(cls, none ? count : true);
  return none;
}

/** Validates a processor instance; throws {@link ProcessorValidationError} listing every failing property. */
export function validateProcessor(instance: object, processorType: string): void {
  // A class without validators has nothing to check (with `forbidUnknownValues: false` validateSync returns no errors).
  if (typeof instance.constructor === 'function' && instance.constructor !== Object && hasNoValidators(instance.constructor)) return;
  const errors = validateSync(instance, { forbidUnknownValues: false });
  if (errors.length) throw new ProcessorValidationError(processorType, flatten(errors));
}

/**
 * Keys class-transformer cannot copy on a plain (untyped) object: it skips `__proto__` and
 * `constructor`, skips every name of an `Object.prototype` method (`toString`, `valueOf`, ...),
 * and reads an own `constructor` as the object's type (a TypeError). Free-form props such as
 * `filters: Record<string, string>` may hold any key, so these are set aside before the
 * transform and put back on the plain objects it made.
 */
const SHADOWING_KEYS = new Set(Object.getOwnPropertyNames(Object.prototype));

/** Per copied plain object: the keys taken out, and the original key order to restore. */
type SetAside = WeakMap<object, { removed: Array<[string, unknown]>; order: string[] }>;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function defineOwn(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Copy of `value` without shadowing keys on its plain objects (those go to `aside`); untouched subtrees are returned as is. */
function setAside(value: unknown, aside: SetAside, seen: Set<object>): unknown {
  if (typeof value !== 'object' || value === null || value instanceof Date || seen.has(value)) return value;
  seen.add(value);
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item, i) => {
      const next = setAside(item, aside, seen);
      if (next !== item) (copy ??= [...value])[i] = next;
    });
    return copy ?? value;
  }
  const plain = isPlainObject(value);
  const record = value as Record<string, unknown>;
  const removed: Array<[string, unknown]> = [];
  const changed = new Map<string, unknown>();
  for (const key of Object.keys(record)) {
    if (plain && SHADOWING_KEYS.has(key)) removed.push([key, record[key]]);
    else {
      const next = setAside(record[key], aside, seen);
      if (next !== record[key]) changed.set(key, next);
    }
  }
  if (!removed.length && !changed.size) return value;
  const copy = Object.create(Object.getPrototypeOf(value) as object | null, Object.getOwnPropertyDescriptors(value)) as Record<string, unknown>;
  for (const [key] of removed) delete copy[key];
  for (const [key, next] of changed) defineOwn(copy, key, next);
  if (removed.length) aside.set(copy, { removed, order: Object.keys(record) });
  return copy;
}

/** A copy of a set-aside value: plain objects and arrays deep (keeping every key), Dates as new Dates. */
function cloneAside(value: unknown): unknown {
  if (value instanceof Date) return new Date(value.getTime());
  if (Array.isArray(value)) return value.map(cloneAside);
  if (!isPlainObject(value)) return value;
  const copy = {};
  for (const key of Object.keys(value)) defineOwn(copy, key, cloneAside(value[key]));
  return copy;
}

/** Puts set-aside keys back on the plain objects the transform made from `source`. */
function putBack(target: unknown, source: unknown, aside: SetAside, seen: Set<object>): void {
  if (typeof target !== 'object' || target === null || typeof source !== 'object' || source === null || seen.has(source)) return;
  seen.add(source);
  const entry = aside.get(source);
  // Only plain objects get them back: on a class instance they would shadow its methods.
  if (entry && isPlainObject(target)) {
    for (const [key, value] of entry.removed) defineOwn(target, key, cloneAside(value));
    // Re-insert every key in the source's order, so the stored JSON keeps it.
    for (const key of entry.order) {
      if (!Object.prototype.hasOwnProperty.call(target, key)) continue;
      const value = target[key];
      delete target[key];
      defineOwn(target, key, value);
    }
  }
  for (const key of Object.keys(source)) {
    if (Object.prototype.hasOwnProperty.call(target, key)) {
      putBack((target as Record<string, unknown>)[key], (source as Record<string, unknown>)[key], aside, seen);
    }
  }
}

/** Runs a class-transformer call on `value` so that free-form objects keep every key. */
function transformKeepingKeys<R>(value: unknown, transform: (safe: unknown) => R): R {
  // No nested objects and no shadowing key: setAside would return `value` itself.
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date) && isShallow(value)) return transform(value);
  const aside: SetAside = new WeakMap();
  const safe = setAside(value, aside, new Set());
  const result = transform(safe);
  if (safe !== value) putBack(result, safe, aside, new Set());
  return result;
}

/** Whether every own value of `value` is a primitive or a Date and no key is one of {@link SHADOWING_KEYS}. */
function isShallow(value: object): boolean {
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const v = record[key];
    if ((typeof v === 'object' && v !== null && !(v instanceof Date)) || SHADOWING_KEYS.has(key)) return false;
  }
  return true;
}

/** Builds a processor from plain props through class-transformer (so `@Type` and defaults apply). */
export function instantiateProcessor<T extends object>(cls: new () => T, props: unknown): T {
  return transformKeepingKeys(props, (safe) => plainToInstance(cls, safe as object, { exposeDefaultValues: true }) as T);
}

/**
 * Serialises a processor's props to the JSON stored in `processor_json`. Props JSON cannot
 * hold (Map, Set, bigint, functions, cycles, NaN/Infinity, invalid Dates) are rejected with
 * an `InvalidArgumentError` naming the property, instead of being stored lossily.
 */
export function serializeProcessor(instance: object): string {
  // Flat props (the common case) need no full walk: the same accept/refuse answer.
  if (!flatCharsWithinLimits(instance)) assertJsonPropsFully(instance, instance.constructor.name);
  return JSON.stringify(transformKeepingKeys(instance, toPlain));
}

const TO_PLAIN = Object.freeze({ exposeUnsetFields: false });

function toPlain(safe: unknown): Record<string, unknown> {
  return instanceToPlain(safe as object, TO_PLAIN);
}

/**
 * When every own enumerable value of `value` is a string, boolean, finite number, null or
 * undefined, `value` has no `toJSON` and it is within {@link PROPS_LIMITS}: true (what
 * {@link assertJsonProps} would accept without a walk). Otherwise false, and the caller takes
 * the full path, which accepts or names the problem.
 */
function flatCharsWithinLimits(value: object): boolean {
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function' || Array.isArray(value)) return false;
  for (const kind of UNSTORABLE_OBJECTS) if (value instanceof kind) return false;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length > PROPS_LIMITS.maxKeysPerObject) return false;
  let chars = 0;
  for (const key of keys) {
    const v = record[key];
    if (typeof v === 'string') chars += v.length + 2;
    else if (typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) chars += 8;
    else if (v !== null && v !== undefined) return false;
    chars += key.length + 3;
  }
  return chars <= PROPS_LIMITS.maxJsonChars;
}

/** Objects the full check refuses (or, for Date, turns into a string) whatever their keys. */
const UNSTORABLE_OBJECTS: ReadonlyArray<abstract new (...args: never[]) => object> = [Date, Map, Set, WeakMap, WeakSet, Promise];


/**
 * Bounds on a processor's props, so rebuilding a processor never holds the event loop for long
 * (class-transformer is worse than linear in the keys of one object: 10,000 keys take about
 * 0.2 s, 50,000 about 3 s, 200,000 minutes). Props over a bound are refused at `create()` /
 * `createTask` with an `InvalidArgumentError`, and a stored row over a bound ends in ERROR
 * `invalid_config` before class-transformer sees it. Keep bulky data in your own tables and
 * pass its id.
 */
export const PROPS_LIMITS = Object.freeze({
  /** Most keys in one object of the props. */
  maxKeysPerObject: 10_000,
  /** Most characters of the props as JSON (`processor_json`). */
  maxJsonChars: 16 * 1024 * 1024,
});

/** Throws `InvalidArgumentError` naming the first object of `props` with more keys than {@link PROPS_LIMITS} allows, or when the props are too large. Linear in the size of the props. */
export function assertPropsWithinLimits(props: unknown, owner: string): void {
  if (typeof props === 'object' && props !== null && flatCharsWithinLimits(props)) return;
  walkPropsWithinLimits(props, owner);
}

/** {@link assertPropsWithinLimits} without the shortcut for flat props. */
function walkPropsWithinLimits(props: unknown, owner: string): void {
  const state = { chars: 0, seen: new Set<object>(), owner };
  walkWithinLimits(props, '', state);
  if (state.chars > PROPS_LIMITS.maxJsonChars) {
    throw new InvalidArgumentError(`${owner} props are about ${Math.round(state.chars / 1048576)} MiB as JSON, above the limit of ${PROPS_LIMITS.maxJsonChars / 1048576} MiB`);
  }
}

/** The walk of {@link assertPropsWithinLimits}: adds to `state.chars`, throws at an object over the key bound. */
function walkWithinLimits(v: unknown, path: string, state: { chars: number; seen: Set<object>; owner: string }): void {
  if (typeof v === 'string') state.chars += v.length + 2;
  else if (typeof v === 'number' || typeof v === 'boolean') state.chars += 8;
  if (typeof v !== 'object' || v === null || state.seen.has(v) || v instanceof Date) return;
  state.seen.add(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) walkWithinLimits(v[i], `${path}[${i}]`, state);
    return;
  }
  const keys = Object.keys(v);
  if (keys.length > PROPS_LIMITS.maxKeysPerObject) {
    throw new InvalidArgumentError(
      `${state.owner}${path || ' props'} has ${keys.length} keys, above the limit of ${PROPS_LIMITS.maxKeysPerObject} keys per object (store bulky data in your own tables and pass its id)`,
    );
  }
  for (const key of keys) {
    state.chars += key.length + 3;
    walkWithinLimits((v as Record<string, unknown>)[key], `${path}.${key}`, state);
  }
}

/** Throws `InvalidArgumentError` naming the first property of `props` JSON cannot hold, or the first bound of {@link PROPS_LIMITS} it passes. */
export function assertJsonProps(props: unknown, owner: string): void {
  // Flat props are within the bounds and JSON holds them: nothing to name.
  if (typeof props === 'object' && props !== null && flatCharsWithinLimits(props)) return;
  assertJsonPropsFully(props, owner);
}

/** {@link assertJsonProps} without the shortcut for flat props. */
function assertJsonPropsFully(props: unknown, owner: string): void {
  walkPropsWithinLimits(props, owner);
  try {
    // processor_json is text, and JSON.stringify escapes NULs and lone surrogates: only the
    // structure matters here.
    toStorableResult(props, { jsonb: false });
  } catch (error) {
    const message = (error as Error).message.replace(/^result/, owner);
    throw new InvalidArgumentError(`Cannot store processor props as JSON: ${message}`);
  }
}

/**
 * Parses `processor_json`; throws SyntaxError with the parser's message when it is not JSON,
 * and `InvalidArgumentError` when it passes a bound of {@link PROPS_LIMITS}.
 */
export function parseProcessorJson(json: string): unknown {
  if (json.length > PROPS_LIMITS.maxJsonChars) {
    throw new InvalidArgumentError(`processor_json holds ${Math.round(json.length / 1048576)} MiB, above the limit of ${PROPS_LIMITS.maxJsonChars / 1048576} MiB`);
  }
  const value: unknown = JSON.parse(json);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SyntaxError(`processor_json must hold a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`);
  }
  assertPropsWithinLimits(value, 'processor_json');
  return value;
}

/** Where `@Sensitive()` records property names: a global symbol on the class, shared by every copy of the module. */
export const SENSITIVE_METADATA = Symbol.for('upkeep.sensitive');

/** What masked values read as in admin responses, event streams and audit entries. */
export const MASK = '[redacted]';

/**
 * Marks a processor property as sensitive (a token, a password, personal data): the admin
 * API masks it in every response, event stream and stored audit entry. The stored
 * `processor_json` keeps the real value, so the processor still receives it.
 */
export function Sensitive(): PropertyDecorator {
  return (target, key) => {
    if (typeof key !== 'string') return;
    const ctor = (target as { constructor: Function }).constructor as unknown as Record<symbol, string[] | undefined>;
    const own = Object.prototype.hasOwnProperty.call(ctor, SENSITIVE_METADATA) ? ctor[SENSITIVE_METADATA]! : [...(ctor[SENSITIVE_METADATA] ?? [])];
    if (!own.includes(key)) own.push(key);
    Object.defineProperty(ctor, SENSITIVE_METADATA, { value: own, enumerable: false, configurable: true, writable: true });
  };
}

/** Property names marked `@Sensitive()` on a class and its parents. */
export function sensitiveKeysOf(cls: unknown): readonly string[] {
  if (typeof cls !== 'function') return [];
  return ((cls as unknown as Record<symbol, string[] | undefined>)[SENSITIVE_METADATA] ?? []).slice();
}

/** A copy of `props` with the sensitive keys masked (present keys only). */
export function maskProps(props: unknown, keys: readonly string[]): unknown {
  if (!keys.length || typeof props !== 'object' || props === null || Array.isArray(props)) return props;
  const out: Record<string, unknown> = { ...(props as Record<string, unknown>) };
  for (const key of keys) if (Object.prototype.hasOwnProperty.call(out, key)) out[key] = MASK;
  return out;
}

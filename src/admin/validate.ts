import { InvalidArgumentError } from '../core/errors';
import type { JsonSchema } from './props-schema';

/** One problem with a request, naming where it is. */
export interface RequestIssue {
  /** `query.limit`, `body.options.priority`, ... */
  property: string;
  /** What is wrong. */
  message: string;
}

/** A 400 listing every issue. */
export function badRequest(message: string, issues: RequestIssue[]): InvalidArgumentError {
  return Object.assign(new InvalidArgumentError(`${message}: ${issues.map((i) => `${i.property} ${i.message}`).join('; ')}`), { issues });
}

/** Spec of one query parameter (also rendered into OpenAPI). */
export interface QueryParam {
  /** Kind of value; `list` is comma-separated (or repeated) strings. */
  type: 'string' | 'integer' | 'date-time' | 'list' | 'boolean';
  /** One line for the docs and OpenAPI. */
  description: string;
  /** Allowed values (each item, for a list). */
  enum?: readonly string[];
  /** Smallest integer allowed. */
  min?: number;
  /** Largest integer allowed. */
  max?: number;
  /** Longest string (each item, for a list). */
  maxLength?: number;
  /** Pattern each string must match. */
  pattern?: RegExp;
}

const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

/** Validates a query against its spec: unknown keys, types, bounds; every issue reported at once. */
export function parseQuery(spec: Record<string, QueryParam> | undefined, raw: Record<string, string | string[] | undefined> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const issues: RequestIssue[] = [];
  for (const key of Object.keys(raw)) if (!spec || !(key in spec)) issues.push({ property: `query.${key}`, message: 'is not a known parameter' });
  for (const [key, p] of Object.entries(spec ?? {})) {
    const values = first(raw[key]);
    if (!values.length) continue;
    const where = `query.${key}`;
    if (p.type !== 'list' && values.length > 1) {
      issues.push({ property: where, message: 'is given more than once' });
      continue;
    }
    const v = values[0]!;
    const check = (s: string): boolean => {
      if (p.maxLength !== undefined && s.length > p.maxLength) return (issues.push({ property: where, message: `is longer than ${p.maxLength} characters` }), false);
      if (p.pattern && !p.pattern.test(s)) return (issues.push({ property: where, message: `must match ${p.pattern.source}` }), false);
      if (p.enum && !p.enum.includes(s)) return (issues.push({ property: where, message: `must be one of ${p.enum.join(', ')} (got ${JSON.stringify(s.slice(0, 60))})` }), false);
      return true;
    };
    if (p.type === 'integer') {
      const n = /^-?\d{1,16}$/.test(v) ? Number(v) : NaN;
      if (!Number.isSafeInteger(n) || (p.min !== undefined && n < p.min) || (p.max !== undefined && n > p.max)) {
        issues.push({ property: where, message: `must be an integer from ${p.min ?? '-∞'} to ${p.max ?? '∞'} (got ${JSON.stringify(v.slice(0, 30))})` });
      } else out[key] = n;
    } else if (p.type === 'date-time') {
      const d = new Date(v);
      if (!/^\d{4}-\d\d-\d\d/.test(v) || Number.isNaN(d.getTime())) issues.push({ property: where, message: `must be an ISO 8601 date-time (got ${JSON.stringify(v.slice(0, 40))})` });
      else out[key] = d;
    } else if (p.type === 'boolean') {
      if (v !== 'true' && v !== 'false') issues.push({ property: where, message: 'must be true or false' });
      else out[key] = v === 'true';
    } else if (p.type === 'list') {
      const items = values.flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
      if (items.length > 50) issues.push({ property: where, message: 'has more than 50 values' });
      else if (items.every(check)) out[key] = items;
    } else if (check(v)) out[key] = v;
  }
  if (issues.length) throw badRequest('Invalid query', issues);
  return out;
}

/** Validates a JSON value against the subset of JSON Schema the route table uses; every issue at once. */
export function validateJson(schema: JsonSchema, value: unknown, where: string, issues: RequestIssue[] = []): RequestIssue[] {
  const type = schema.type as string | string[] | undefined;
  const types = Array.isArray(type) ? type : type ? [type] : [];
  const actual = value === null ? 'null' : Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
  if (types.length && !types.some((t) => t === actual || (t === 'number' && actual === 'integer'))) {
    issues.push({ property: where, message: `must be ${types.join(' or ')} (got ${actual})` });
    return issues;
  }
  if (schema.enum && !(schema.enum as unknown[]).includes(value)) issues.push({ property: where, message: `must be one of ${(schema.enum as unknown[]).join(', ')}` });
  if (typeof value === 'string') {
    if (typeof schema.maxLength === 'number' && value.length > schema.maxLength) issues.push({ property: where, message: `is longer than ${schema.maxLength} characters` });
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) issues.push({ property: where, message: `is shorter than ${schema.minLength} characters` });
    if (schema.format === 'date-time' && (!/^\d{4}-\d\d-\d\d/.test(value) || Number.isNaN(new Date(value).getTime()))) issues.push({ property: where, message: 'must be an ISO 8601 date-time' });
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern).test(value)) issues.push({ property: where, message: `must match ${schema.pattern}` });
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) issues.push({ property: where, message: `must be at least ${schema.minimum}` });
    if (typeof schema.maximum === 'number' && value > schema.maximum) issues.push({ property: where, message: `must be at most ${schema.maximum}` });
  }
  if (Array.isArray(value)) {
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) issues.push({ property: where, message: `has more than ${schema.maxItems} items` });
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) issues.push({ property: where, message: `has fewer than ${schema.minItems} items` });
    if (schema.items) value.forEach((item, i) => validateJson(schema.items as JsonSchema, item, `${where}[${i}]`, issues));
  }
  if (actual === 'object' && schema.properties) {
    const props = schema.properties as Record<string, JsonSchema>;
    const obj = value as Record<string, unknown>;
    for (const key of (schema.required as string[] | undefined) ?? []) if (obj[key] === undefined) issues.push({ property: `${where}.${key}`, message: 'is required' });
    for (const [key, v] of Object.entries(obj)) {
      if (props[key]) validateJson(props[key]!, v, `${where}.${key}`, issues);
      else if (schema.additionalProperties === false) issues.push({ property: `${where}.${key}`, message: 'is not a known field' });
    }
  }
  return issues;
}

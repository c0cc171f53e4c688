import { getMetadataStorage } from 'class-validator';
import { sensitiveKeysOf } from '../processor/sensitive';

/** A JSON Schema (draft 2020-12 subset) object. */
export type JsonSchema = Record<string, unknown>;

interface Meta {
  propertyName: string;
  type: string;
  name?: string;
  constraints?: unknown[];
  each?: boolean;
}

/** How one class-validator constraint narrows a property's schema (`target` is the item schema under `each`). */
const RULES: Record<string, (target: JsonSchema, c: unknown[]) => void> = {
  isString: (s) => (s.type = 'string'),
  isInt: (s) => (s.type = 'integer'),
  isNumber: (s) => (s.type = 'number'),
  isBoolean: (s) => (s.type = 'boolean'),
  isArray: (s) => (s.type = 'array'),
  isObject: (s) => (s.type = 'object'),
  isDate: (s) => ((s.type = 'string'), (s.format = 'date-time')),
  isDateString: (s) => ((s.type = 'string'), (s.format = 'date-time')),
  isISO8601: (s) => ((s.type = 'string'), (s.format = 'date-time')),
  isEmail: (s) => ((s.type = 'string'), (s.format = 'email')),
  isUrl: (s) => ((s.type = 'string'), (s.format = 'uri')),
  isUUID: (s) => ((s.type = 'string'), (s.format = 'uuid')),
  isPositive: (s) => (s.exclusiveMinimum = 0),
  isNegative: (s) => (s.exclusiveMaximum = 0),
  min: (s, c) => (s.minimum = c[0]),
  max: (s, c) => (s.maximum = c[0]),
  minLength: (s, c) => (s.minLength = c[0]),
  maxLength: (s, c) => (s.maxLength = c[0]),
  length: (s, c) => ((s.minLength = c[0]), c[1] !== undefined && (s.maxLength = c[1])),
  matches: (s, c) => (s.pattern = c[0] instanceof RegExp ? c[0].source : String(c[0])),
  isIn: (s, c) => (s.enum = c[0]),
  isEnum: (s, c) => (s.enum = typeof c[0] === 'object' && c[0] !== null ? Object.values(c[0]) : undefined),
  isNotEmpty: (s) => (s.minLength ??= 1),
  equals: (s, c) => (s.const = c[0]),
};
const ARRAY_RULES: Record<string, (s: JsonSchema, c: unknown[]) => void> = {
  arrayMinSize: (s, c) => (s.minItems = c[0]),
  arrayMaxSize: (s, c) => (s.maxItems = c[0]),
  arrayNotEmpty: (s) => (s.minItems = 1),
  arrayUnique: (s) => (s.uniqueItems = true),
};

/**
 * JSON Schema of a processor's props, derived from its class-validator metadata: types,
 * bounds, lengths, patterns, enums, array sizes and `each` item rules; `@IsOptional()`
 * properties are not required; `@Sensitive()` ones carry `writeOnly: true`. Constraints
 * with no JSON Schema equivalent are listed under `x-constraints`.
 */
export function propsSchemaOf(cls: Function): JsonSchema {
  const storage = getMetadataStorage() as unknown as { getTargetValidationMetadatas(t: Function, s: string, a: boolean, g: boolean, gr?: string[]): Meta[] };
  const metas = storage.getTargetValidationMetadatas(cls, '', true, false);
  const properties: Record<string, JsonSchema> = {};
  const optional = new Set<string>();
  const extra: Record<string, string[]> = {};
  for (const m of metas) {
    const prop = (properties[m.propertyName] ??= {});
    if (m.type === 'conditionalValidation' && m.name === 'isOptional') {
      optional.add(m.propertyName);
      continue;
    }
    if (m.type === 'nestedValidation') {
      prop.type ??= 'object';
      continue;
    }
    if (m.type !== 'customValidation' || !m.name) continue;
    const constraints = m.constraints ?? [];
    const arrayRule = ARRAY_RULES[m.name];
    if (arrayRule) {
      prop.type = 'array';
      arrayRule(prop, constraints);
      continue;
    }
    const rule = RULES[m.name];
    const target = m.each ? ((prop.type = 'array'), ((prop.items as JsonSchema | undefined) ?? (prop.items = {}))) as JsonSchema : prop;
    if (rule) rule(target, constraints);
    else (extra[m.propertyName] ??= []).push(m.name);
  }
  for (const key of sensitiveKeysOf(cls)) (properties[key] ??= {}).writeOnly = true;
  for (const [key, names] of Object.entries(extra)) properties[key]!['x-constraints'] = names;
  const required = Object.keys(properties).filter((k) => !optional.has(k));
  return { type: 'object', properties, ...(required.length ? { required } : {}), additionalProperties: false };
}

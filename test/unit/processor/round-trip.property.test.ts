import { Type } from 'class-transformer';
import {
  IsArray,
  IsBoolean,
  IsDate,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Min,
  ValidateNested,
} from 'class-validator';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MaintenanceTaskProcessor, Processor, type ProcessorClass } from '../../../src';
import { getProcessorMetadata } from '../../../src/processor/processor-metadata';
import {
  instantiateProcessor,
  parseProcessorJson,
  serializeProcessor,
  validateProcessor,
} from '../../../src/processor/serialization';

// Each property runs this many cases; raise locally with FC_NUM_RUNS=10000 when hunting.
const numRuns = Number(process.env.FC_NUM_RUNS ?? 300);

/**
 * What the store and the runner do with a processor: serialise it into processor_json,
 * then parse, instantiate and validate it again on the other side.
 */
function roundTrip<P extends MaintenanceTaskProcessor>(cls: ProcessorClass<P>, processor: P): { json: string; restored: P } {
  const json = serializeProcessor(processor);
  const restored = instantiateProcessor(cls, parseProcessorJson(json));
  validateProcessor(restored, getProcessorMetadata(cls)!.name);
  return { json, restored };
}

/**
 * Deep equality that trusts nothing about the values: same prototype at every node, same own
 * keys in the same order, Dates by time, primitives by Object.is. (toStrictEqual reads the
 * `constructor` property to compare types, which a free-form object may legitimately hold.)
 */
function expectSameTree(actual: unknown, expected: unknown, path = '$'): void {
  if (typeof expected !== 'object' || expected === null) {
    if (!Object.is(actual, expected)) throw new Error(`${path}: expected ${String(expected)}, got ${String(actual)}`);
    return;
  }
  if (typeof actual !== 'object' || actual === null) throw new Error(`${path}: expected an object, got ${String(actual)}`);
  if (Object.getPrototypeOf(actual) !== Object.getPrototypeOf(expected)) throw new Error(`${path}: prototypes differ`);
  if (expected instanceof Date) {
    if ((actual as Date).getTime() !== expected.getTime()) throw new Error(`${path}: dates differ`);
    return;
  }
  const keys = Object.keys(expected);
  expect(Object.keys(actual), `own keys of ${path}`).toEqual(keys);
  for (const key of keys) {
    expectSameTree((actual as Record<string, unknown>)[key], (expected as Record<string, unknown>)[key], `${path}.${key}`);
  }
}

/** Asserts a lossless round trip: same class, same values (Dates by time), stable JSON. */
function expectLossless<P extends MaintenanceTaskProcessor>(cls: ProcessorClass<P>, processor: P): P {
  const { json, restored } = roundTrip(cls, processor);
  expect(restored).toBeInstanceOf(cls);
  // Same prototypes all the way down, no extra or missing keys, -0 != 0.
  expectSameTree(restored, processor);
  // Serialising again yields byte-identical JSON (nothing drifts over retries).
  expect(serializeProcessor(restored)).toBe(json);
  return restored;
}

// ------------------------------------------------------------------ processors

class Address {
  @IsString()
  street!: string;

  @IsInt()
  number!: number;

  @IsOptional() @IsString()
  note?: string;

  @IsBoolean()
  verified = false;
}

class Window {
  @Type(() => Date) @IsDate()
  from!: Date;

  @Type(() => Date) @IsDate()
  to!: Date;
}

class Team {
  @IsString()
  name!: string;

  @IsArray() @ValidateNested({ each: true }) @Type(() => Address)
  offices!: Address[];

  @IsOptional() @ValidateNested() @Type(() => Window)
  window?: Window;
}

@Processor('round-trip-everything')
class EverythingProcessor extends MaintenanceTaskProcessor {
  @IsString() text!: string;
  @IsInt() count!: number;
  @IsNumber() ratio!: number;
  @IsBoolean() flag!: boolean;
  @IsArray() @IsString({ each: true }) tags!: string[];
  @IsArray() @IsNumber({}, { each: true }) numbers!: number[];
  @IsArray() nested!: number[][];
  @ValidateNested() @Type(() => Address) address!: Address;
  @IsArray() @ValidateNested({ each: true }) @Type(() => Address) addresses!: Address[];
  @ValidateNested() @Type(() => Team) team!: Team;
  @Type(() => Date) @IsDate() when!: Date;
  @IsArray() @Type(() => Date) @IsDate({ each: true }) dates!: Date[];
  @ValidateNested() @Type(() => Window) window!: Window;

  @IsOptional() @IsString() note?: string;
  @IsOptional() @IsInt() limit?: number;
  @IsOptional() @Type(() => Date) @IsDate() until?: Date;
  @IsOptional() @ValidateNested() @Type(() => Address) billing?: Address;
  @IsOptional() @IsString() nullable?: string | null;

  @IsInt() @Min(1) batchSize = 50;
  @IsString() mode = 'fast';
  @IsArray() @IsString({ each: true }) labels: string[] = ['default'];
  @ValidateNested() @Type(() => Address) home: Address = Object.assign(new Address(), { street: 'Home', number: 1 });

  process() {
    return null;
  }
}

/** Free-form JSON in a prop (filters, options bags): no @Type, any keys. */
@Processor('round-trip-free-form')
class FreeFormProcessor extends MaintenanceTaskProcessor {
  @IsObject() filters!: Record<string, unknown>;
  @IsOptional() @IsArray() rows?: Array<Record<string, unknown>>;
  @IsOptional() @ValidateNested() @Type(() => Address) address?: Address;

  process() {
    return null;
  }
}

// ------------------------------------------------------------------ arbitraries

const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }), // lone surrogates, control characters, astral planes
  fc.constantFrom('', ' ', '\u0000', '\\', '"', '\u2028\u2029', '\ud83d', 'e\u0301', '👩‍👩‍👧', '__proto__', 'null'),
);
const int = fc.oneof(fc.integer(), fc.constantFrom(0, -1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER));
// JSON cannot carry NaN or ±Infinity and @IsNumber() rejects them; -0 is covered below on its own.
const double = fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0));
const date = fc.date({ noInvalidDate: true });
const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

const address = fc
  .record({ street: text, number: int, note: text, verified: fc.boolean() }, { requiredKeys: ['street', 'number'] })
  .map((a) => Object.assign(new Address(), a));
const window = fc.record({ from: date, to: date }).map((w) => Object.assign(new Window(), w));
const team = fc
  .record({ name: text, offices: fc.array(address, { maxLength: 3 }), window }, { requiredKeys: ['name', 'offices'] })
  .map((t) => Object.assign(new Team(), t));

/** Props for EverythingProcessor: optional keys are absent or present, never `undefined`. */
const everythingProps = fc.record(
  {
    text,
    count: int,
    ratio: double,
    flag: fc.boolean(),
    tags: fc.array(text, { maxLength: 5 }),
    numbers: fc.array(fc.oneof(int, double), { maxLength: 5 }),
    nested: fc.array(fc.array(int, { maxLength: 3 }), { maxLength: 3 }),
    address,
    addresses: fc.array(address, { maxLength: 3 }),
    team,
    when: date,
    dates: fc.array(date, { maxLength: 4 }),
    window,
    note: text,
    limit: int,
    until: date,
    billing: address,
    nullable: fc.constant(null),
    batchSize: fc.integer({ min: 1 }),
    mode: text,
    labels: fc.array(text, { maxLength: 3 }),
    home: address,
  },
  {
    requiredKeys: ['text', 'count', 'ratio', 'flag', 'tags', 'numbers', 'nested', 'address', 'addresses', 'team', 'when', 'dates', 'window'],
  },
);

/** Keys a free-form object may hold, including ones that shadow Object.prototype members. */
const key = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom('constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', '__proto__', 'prototype', '__defineGetter__', 'length', '0'),
);
/** A JSON value built with own properties only (so `__proto__` is a real key, as JSON.parse makes it). */
const json: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, true, false),
    int,
    double,
    text,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(fc.tuple(key, tie('value')), { maxLength: 5 }).map(ownObject),
  ),
})).value;

function ownObject(entries: Array<[string, unknown]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}

// ------------------------------------------------------------------ properties

describe('processor JSON round trip (serializeProcessor → parseProcessorJson → instantiateProcessor)', () => {
  it('is lossless for strings, numbers, booleans, arrays, nested @Type objects, dates, optionals and defaults', () => {
    fc.assert(
      fc.property(everythingProps, (props) => {
        const processor = EverythingProcessor.create(props as never);
        const restored = expectLossless(EverythingProcessor, processor);
        // Class instances and Dates come back as such, at every depth.
        expect(restored.address).toBeInstanceOf(Address);
        expect(restored.team).toBeInstanceOf(Team);
        for (const office of restored.team.offices) expect(office).toBeInstanceOf(Address);
        expect(restored.when).toBeInstanceOf(Date);
        expect(restored.when.getTime()).toBe(props.when.getTime());
        expect(restored.dates.map((d) => d.getTime())).toEqual(props.dates.map((d) => d.getTime()));
        expect(restored.window.from).toBeInstanceOf(Date);
        // Optional fields: absent stays absent (no key at all), present keeps its value.
        for (const optional of ['note', 'limit', 'until', 'billing', 'nullable'] as const) {
          expect(Object.prototype.hasOwnProperty.call(restored, optional)).toBe(optional in props);
        }
        // Defaults: from the initialiser when left out, the given value otherwise.
        expect(restored.batchSize).toBe(props.batchSize ?? 50);
        expect(restored.mode).toBe(props.mode ?? 'fast');
        expect(restored.labels).toEqual(props.labels ?? ['default']);
        expect(restored.home).toBeInstanceOf(Address);
        expect(restored.home.street).toBe(props.home?.street ?? 'Home');
      }),
      { numRuns },
    );
  });

  it('is lossless for free-form JSON props, whatever their keys', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(key, json), { maxLength: 6 }).map(ownObject),
        opt(fc.array(fc.array(fc.tuple(key, json), { maxLength: 4 }).map(ownObject), { maxLength: 3 })),
        (filters, rows) => {
          const props: Record<string, unknown> = { filters };
          if (rows !== undefined) props.rows = rows;
          const processor = FreeFormProcessor.create(props as never);
          expectSameTree(processor.filters, filters);
          if (rows !== undefined) expectSameTree(processor.rows, rows);
          const restored = expectLossless(FreeFormProcessor, processor);
          expect(JSON.stringify(restored.filters)).toBe(JSON.stringify(filters));
        },
      ),
      { numRuns },
    );
  });

  it('a free-form prop does not let a "__proto__" key change prototypes, nor pollute Object.prototype', () => {
    const raw = '{"filters":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}},"address":{"street":"s","number":1,"__proto__":{"isAdmin":true}}}';
    const restored = instantiateProcessor(FreeFormProcessor, parseProcessorJson(raw));
    expect(Object.getPrototypeOf(restored.filters)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(restored.address).toBeInstanceOf(Address);
    expect((restored.address as unknown as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  it('drops optional props given as undefined (no key in processor_json, none after the trip)', () => {
    const processor = EverythingProcessor.create({
      text: 'a', count: 1, ratio: 0.5, flag: true, tags: [], numbers: [], nested: [],
      address: Object.assign(new Address(), { street: 's', number: 1 }),
      addresses: [], team: Object.assign(new Team(), { name: 't', offices: [] }),
      when: new Date(0), dates: [], window: Object.assign(new Window(), { from: new Date(1), to: new Date(2) }),
      note: undefined, until: undefined,
    });
    const { json, restored } = roundTrip(EverythingProcessor, processor);
    expect(json).not.toContain('"note"');
    expect(json).not.toContain('"until"');
    expect('note' in restored).toBe(false);
    expect(restored).toEqual(processor);
  });

  it('dates keep millisecond precision across the whole valid range', () => {
    fc.assert(
      fc.property(date, (when) => {
        const json = serializeProcessor(Object.assign(new Window(), { from: when, to: when }));
        const restored = instantiateProcessor(Window, JSON.parse(json));
        expect(restored.from).toBeInstanceOf(Date);
        expect(restored.from.getTime()).toBe(when.getTime());
      }),
      { numRuns },
    );
  });

  it('known JSON limit: -0 comes back as 0 (the only double that does not survive)', () => {
    const processor = Object.assign(new EverythingProcessor(), { ratio: -0 });
    const restored = instantiateProcessor(EverythingProcessor, parseProcessorJson(serializeProcessor(processor)));
    expect(Object.is(restored.ratio, 0)).toBe(true);
  });

  it('invalid numbers in props are rejected by validation rather than silently stored as null', () => {
    for (const ratio of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(() =>
        EverythingProcessor.create({
          text: 'a', count: 1, ratio, flag: true, tags: [], numbers: [], nested: [],
          address: Object.assign(new Address(), { street: 's', number: 1 }),
          addresses: [], team: Object.assign(new Team(), { name: 't', offices: [] }),
          when: new Date(0), dates: [], window: Object.assign(new Window(), { from: new Date(1), to: new Date(2) }),
        }),
      ).toThrow(/ratio/);
    }
  });
});

// The shortcuts of src/processor/serialization.ts (classes without validators skip
// validateSync; flat props skip the full JSON walk and the key-keeping copies) must give the
// same answers as the full paths.
import { Exclude, Expose, Transform } from 'class-transformer';
import { IsInt, IsString, Min, MinLength } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, MaintenanceTaskProcessor, Processor, ProcessorValidationError } from '../../../src';
import { assertJsonProps, instantiateProcessor, PROPS_LIMITS, serializeProcessor, validateProcessor } from '../../../src/processor/serialization';

@Processor('fast-validated')
class ValidatedProcessor extends MaintenanceTaskProcessor {
  @IsInt() @Min(1)
  count = 1;

  @IsString() @MinLength(2)
  name = 'ok';

  process() {
    return null;
  }
}

@Processor('fast-plain')
class PlainProcessor extends MaintenanceTaskProcessor {
  count = 1;
  label?: string;

  process() {
    return null;
  }
}

/** No validators of its own; its parent has some. */
@Processor('fast-child')
class ChildOfValidated extends ValidatedProcessor {}

function validationError(fn: () => unknown): ProcessorValidationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ProcessorValidationError);
    return error as ProcessorValidationError;
  }
  throw new Error('expected a ProcessorValidationError');
}

describe('validateProcessor', () => {
  it('still rejects bad props of a class with validators after good ones of the same shape', () => {
    const good = ValidatedProcessor.create({ count: 3, name: 'abc' });
    validateProcessor(good, 'fast-validated');
    const bad = ValidatedProcessor.create({ count: 3, name: 'abc' });
    bad.count = 0;
    const error = validationError(() => validateProcessor(bad, 'fast-validated'));
    expect(error.message).toMatch(/count/);
    expect(validationError(() => ValidatedProcessor.create({ count: 2, name: 'x' })).message).toMatch(/name/);
    // And a good one again after the bad ones.
    expect(() => validateProcessor(ValidatedProcessor.create({ count: 2, name: 'xy' }), 'fast-validated')).not.toThrow();
  });

  it('applies inherited validators to a subclass without its own', () => {
    expect(validationError(() => ChildOfValidated.create({ count: -1 })).message).toMatch(/count/);
    expect(ChildOfValidated.create({ count: 5 }).count).toBe(5);
  });

  it('accepts any props of a class without validators, repeatedly', () => {
    for (let i = 0; i < 3; i++) {
      const p = PlainProcessor.create({ count: -i, label: 'x' });
      expect(() => validateProcessor(p, 'fast-plain')).not.toThrow();
    }
  });

  it('sees validators added to a class (or to its parent) after it was validated without any', () => {
    @Processor('fast-late')
    class LateProcessor extends MaintenanceTaskProcessor {
      count = 1;
      process() {
        return null;
      }
    }
    class LateParent extends MaintenanceTaskProcessor {
      size = 1;
      process() {
        return null;
      }
    }
    @Processor('fast-late-child')
    class LateChild extends LateParent {}

    const late = LateProcessor.create({ count: 0 });
    const child = LateChild.create({ size: 0 });
    validateProcessor(late, 'fast-late');
    validateProcessor(child, 'fast-late-child');
    Min(1)(LateProcessor.prototype, 'count');
    Min(1)(LateParent.prototype, 'size');
    expect(validationError(() => validateProcessor(late, 'fast-late')).message).toMatch(/count/);
    expect(validationError(() => validateProcessor(child, 'fast-late-child')).message).toMatch(/size/);
  });
});

describe('serializeProcessor of flat props', () => {
  it('gives the JSON of instanceToPlain, undefined left out, in key order', () => {
    const p = PlainProcessor.create({ count: 2 });
    expect(serializeProcessor(p)).toBe('{"count":2}');
    p.label = 'é\u0000"';
    expect(JSON.parse(serializeProcessor(p))).toEqual({ count: 2, label: 'é\u0000"' });
  });

  it('honours class-transformer decorators', () => {
    @Processor('fast-transformed')
    class TransformedProcessor extends MaintenanceTaskProcessor {
      @Exclude({ toPlainOnly: true })
      secret = 's';

      @Transform(({ value }) => (typeof value === 'string' ? value.toUpperCase() : value), { toPlainOnly: true })
      shout = 'hi';

      @Expose({ name: 'renamed' })
      original = 1;

      process() {
        return null;
      }
    }
    expect(JSON.parse(serializeProcessor(TransformedProcessor.create({})))).toEqual({ shout: 'HI', renamed: 1 });
  });

  it('keeps the full checks: non-finite numbers, bigints and functions are named', () => {
    const p = PlainProcessor.create({ count: 1 });
    for (const [value, pattern] of [
      [Number.NaN, /count is NaN/],
      [Infinity, /count is Infinity/],
      [1n, /count is a bigint/],
      [() => 1, /count is a function/],
    ] as const) {
      (p as unknown as { count: unknown }).count = value;
      expect(() => serializeProcessor(p)).toThrow(InvalidArgumentError);
      expect(() => serializeProcessor(p)).toThrow(pattern);
    }
  });

  it('keeps the full path for a toJSON method, and the bounds with their messages', () => {
    class WithToJson {
      a = 1;
      toJSON() {
        return { a: new Map() };
      }
    }
    expect(() => assertJsonProps(new WithToJson(), 'WithToJson')).toThrow(/a is a Map/);
    const wide = Object.fromEntries(Array.from({ length: PROPS_LIMITS.maxKeysPerObject + 1 }, (_, i) => [`k${i}`, 1]));
    expect(() => assertJsonProps(wide, 'Wide')).toThrow(/Wide props has 10001 keys, above the limit of 10000/);
    expect(() => assertJsonProps({ s: 'x'.repeat(PROPS_LIMITS.maxJsonChars) }, 'Big')).toThrow(/Big props are about 16 MiB as JSON, above the limit of 16 MiB/);
  });

  it('refuses Maps, Sets and invalid Dates given as props (no keys, but not JSON objects)', () => {
    expect(() => assertJsonProps(new Map(), 'P')).toThrow(/is a Map/);
    expect(() => assertJsonProps(new Set(), 'P')).toThrow(/is a Set/);
    expect(() => assertJsonProps(new Date(Number.NaN), 'P')).toThrow(/invalid Date/);
  });

  it('keeps keys class-transformer cannot copy on plain objects', () => {
    const plain = { toString: 'x', constructor: 'y', n: 1 };
    expect(JSON.parse(serializeProcessor(plain))).toEqual(plain);
  });
});

describe('instantiateProcessor of flat props', () => {
  it('builds the instance with defaults, and still keeps shadowing keys off a class instance', () => {
    const p = instantiateProcessor(PlainProcessor, { label: 'a' });
    expect(p).toBeInstanceOf(PlainProcessor);
    expect({ count: p.count, label: p.label }).toEqual({ count: 1, label: 'a' });
    const shadowed = instantiateProcessor(PlainProcessor, JSON.parse('{"count":2,"toString":"x","__proto__":"y"}'));
    expect(shadowed.count).toBe(2);
    expect(typeof shadowed.toString).toBe('function');
    expect(Object.getPrototypeOf(shadowed)).toBe(PlainProcessor.prototype);
  });
});

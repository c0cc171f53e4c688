import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsDate,
  IsDefined,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Max,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  isUpkeepError,
  MaintenanceTaskProcessor,
  Processor,
  ProcessorValidationError,
  type ProcessorClass,
} from '../../../src';
import { instantiateProcessor, parseProcessorJson, serializeProcessor } from '../../../src/processor/serialization';

class Coordinates {
  @IsInt() @Min(-90) @Max(90)
  lat!: number;

  @IsInt() @Min(-180) @Max(180)
  lon!: number;
}

class Address {
  @IsString() @MinLength(2)
  street!: string;

  @IsInt() @Min(1)
  number!: number;

  @IsDefined() @ValidateNested() @Type(() => Coordinates)
  at!: Coordinates;
}

@Processor('create-strict')
class StrictProcessor extends MaintenanceTaskProcessor {
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(3) @IsString({ each: true })
  userIds!: string[];

  @IsInt() @Min(1) @Max(1000)
  batchSize = 100;

  @IsBoolean()
  dryRun = false;

  @IsIn(['fast', 'safe'])
  mode: 'fast' | 'safe' = 'safe';

  @IsDefined() @ValidateNested() @Type(() => Address)
  address!: Address;

  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => Address)
  others?: Address[];

  @IsOptional() @Type(() => Date) @IsDate()
  notBefore?: Date;

  process() {
    return { users: this.userIds.length };
  }
}

const goodAddress = { street: 'Main', number: 1, at: { lat: 1, lon: 2 } };

function validationError(fn: () => unknown): ProcessorValidationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ProcessorValidationError);
    expect(isUpkeepError(error)).toBe(true);
    expect((error as ProcessorValidationError).code).toBe('PROCESSOR_VALIDATION');
    return error as ProcessorValidationError;
  }
  throw new Error('expected a ProcessorValidationError, nothing was thrown');
}

describe('Processor.create(props): validation', () => {
  it('builds a validated instance of the class, with nested @Type classes and dates', () => {
    const notBefore = new Date('2026-02-03T04:05:06.789Z');
    const p = StrictProcessor.create({ userIds: ['u1', 'u2'], address: goodAddress as Address, others: [goodAddress as Address], notBefore });
    expect(p).toBeInstanceOf(StrictProcessor);
    expect(p.address).toBeInstanceOf(Address);
    expect(p.address.at).toBeInstanceOf(Coordinates);
    expect(p.others![0]).toBeInstanceOf(Address);
    expect(p.notBefore).toBeInstanceOf(Date);
    expect(p.notBefore!.getTime()).toBe(notBefore.getTime());
    expect(p.process()).toEqual({ users: 2 });
  });

  it('lists every failing property, top-level and nested (objects and array elements), in one error', () => {
    const error = validationError(() =>
      StrictProcessor.create({
        userIds: [1, 'ok'] as unknown as string[],
        batchSize: 0,
        dryRun: 'no' as unknown as boolean,
        mode: 'turbo' as 'fast',
        address: { street: 'M', number: 0, at: { lat: 91, lon: -181 } } as Address,
        others: [goodAddress as Address, { street: 7, number: 2, at: { lat: 0, lon: 0.5 } } as unknown as Address],
        notBefore: 'tomorrow' as unknown as Date,
      }),
    );
    const properties = error.problems.map((p) => p.property).sort();
    expect(properties).toEqual(
      [
        'userIds',
        'batchSize',
        'dryRun',
        'mode',
        'address.street',
        'address.number',
        'address.at.lat',
        'address.at.lon',
        'others.1.street',
        'others.1.at.lon',
        'notBefore',
      ].sort(),
    );
    expect(error.processorType).toBe('create-strict');
    // The message names the processor and each failing property.
    expect(error.message).toContain('"create-strict"');
    for (const property of properties) expect(error.message).toContain(`${property}:`);
    // Every constraint a property broke is kept, not only the first.
    const street = error.problems.find((p) => p.property === 'others.1.street')!;
    expect(Object.keys(street.constraints).sort()).toEqual(['isString', 'minLength']);
    const lat = error.problems.find((p) => p.property === 'address.at.lat')!;
    expect(lat.constraints).toEqual({ max: expect.stringContaining('90') });
  });

  it('required nested objects and arrays that are missing are reported', () => {
    const error = validationError(() => StrictProcessor.create({}));
    expect(error.problems.map((p) => p.property).sort()).toEqual(['address', 'userIds']);
  });

  it('a nested object of the wrong shape is reported, not crashed on', () => {
    const error = validationError(() => StrictProcessor.create({ userIds: ['a'], address: 'Main street 1' as unknown as Address }));
    expect(error.problems.map((p) => p.property)).toContain('address');
  });

  it('passes when the only problems would be in optional fields that are absent', () => {
    expect(() => StrictProcessor.create({ userIds: ['a'], address: goodAddress as Address })).not.toThrow();
  });

  it('throws InvalidArgumentError for a class without its own @Processor', () => {
    class Undecorated extends MaintenanceTaskProcessor {
      process() {
        return null;
      }
    }
    class Child extends StrictProcessor {}
    for (const cls of [Undecorated, Child] as ProcessorClass[]) {
      let thrown: unknown;
      try {
        (cls as unknown as typeof StrictProcessor).create({ userIds: ['a'], address: goodAddress as Address });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidArgumentError);
      expect((thrown as Error).message).toContain(cls.name);
      expect((thrown as Error).message).toContain('@Processor');
    }
  });

  it.each([
    ['null', null],
    ['an array', [{ userIds: ['a'] }]],
    ['a string', '{"userIds":["a"]}'],
    ['a number', 3],
  ])('throws InvalidArgumentError when props is %s', (_label, props) => {
    expect(() => StrictProcessor.create(props as never)).toThrow(InvalidArgumentError);
    expect(() => StrictProcessor.create(props as never)).toThrow(/props must be an object/);
  });

  it('does not let props shadow methods', () => {
    const p = StrictProcessor.create({ userIds: ['a'], address: goodAddress as Address, process: 'not a function' } as never);
    expect(typeof p.process).toBe('function');
    expect(JSON.parse(serializeProcessor(p))).not.toHaveProperty('process');
  });

  it('copies the props: later changes to the caller objects do not reach the processor', () => {
    const props = { userIds: ['a'], address: structuredClone(goodAddress) as Address };
    const p = StrictProcessor.create(props);
    props.userIds.push('b');
    props.address.street = 'Changed';
    expect(p.userIds).toEqual(['a']);
    expect(p.address.street).toBe('Main');
  });
});

@Processor('create-defaults')
class DefaultsProcessor extends MaintenanceTaskProcessor {
  @IsArray() @IsString({ each: true })
  userIds: string[] = [];

  @IsInt() @Min(1)
  batchSize = 50;

  @IsString()
  label = 'nightly';

  @IsBoolean()
  verbose = false;

  @ValidateNested() @Type(() => Coordinates)
  origin: Coordinates = Object.assign(new Coordinates(), { lat: 10, lon: 20 });

  @IsOptional() @IsString()
  note?: string;

  process() {
    return null;
  }
}

describe('Processor.create(props): defaults from field initialisers', () => {
  it('fills every default when props leave them out', () => {
    const p = DefaultsProcessor.create({});
    expect(p).toEqual(Object.assign(new DefaultsProcessor(), {}));
    expect(p.batchSize).toBe(50);
    expect(p.label).toBe('nightly');
    expect(p.verbose).toBe(false);
    expect(p.origin).toBeInstanceOf(Coordinates);
    expect(p.origin).toEqual({ lat: 10, lon: 20 });
    expect('note' in p).toBe(false);
  });

  it('keeps the default when a prop is given as undefined, and overrides it otherwise (including falsy values)', () => {
    const p = DefaultsProcessor.create({ batchSize: undefined, label: '', verbose: true });
    expect(p.batchSize).toBe(50);
    expect(p.label).toBe('');
    expect(p.verbose).toBe(true);
  });

  it('defaults are not shared between instances', () => {
    const a = DefaultsProcessor.create({});
    const b = DefaultsProcessor.create({});
    a.userIds.push('x');
    a.origin.lat = -1;
    expect(b.userIds).toEqual([]);
    expect(b.origin.lat).toBe(10);
  });

  it('defaults survive the JSON round trip and are written into processor_json', () => {
    const p = DefaultsProcessor.create({ userIds: ['u'] });
    const json = serializeProcessor(p);
    expect(JSON.parse(json)).toEqual({ userIds: ['u'], batchSize: 50, label: 'nightly', verbose: false, origin: { lat: 10, lon: 20 } });
    const restored = instantiateProcessor(DefaultsProcessor, parseProcessorJson(json));
    expect(restored).toBeInstanceOf(DefaultsProcessor);
    expect(restored).toStrictEqual(p);
  });

  it('a field added later with a default is filled in when an older row lacks it', () => {
    const restored = instantiateProcessor(DefaultsProcessor, parseProcessorJson('{"userIds":["old"]}'));
    expect(restored.userIds).toEqual(['old']);
    expect(restored.batchSize).toBe(50);
    expect(restored.origin).toEqual({ lat: 10, lon: 20 });
  });

  it('an invalid value replacing a default is still rejected', () => {
    const error = validationError(() => DefaultsProcessor.create({ batchSize: 0, origin: { lat: 100, lon: 0 } as Coordinates }));
    expect(error.problems.map((p) => p.property).sort()).toEqual(['batchSize', 'origin.lat']);
  });
});

describe('Processor.create(props): props JSON cannot hold', () => {
  @Processor('json-limits')
  class JsonLimits extends MaintenanceTaskProcessor {
    tags?: unknown;
    process(): null {
      return null;
    }
  }

  it.each([
    ['a Set', new Set(['a'])],
    ['a Map', new Map([['a', 1]])],
    ['a bigint', 10n],
    ['NaN', Number.NaN],
    ['an invalid Date', new Date('nope')],
    ['a function', () => 1],
  ])('rejects %s with an InvalidArgumentError naming the property', (_label, value) => {
    let thrown: unknown;
    try {
      JsonLimits.create({ tags: value });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidArgumentError);
    expect((thrown as Error).message).toMatch(/tags/);
  });

  it('rejects a cycle with an InvalidArgumentError (not a RangeError from deep recursion)', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => JsonLimits.create({ tags: cyclic })).toThrow(InvalidArgumentError);
  });
});

import { describe, expect, it } from 'vitest';
import {
  MaintenanceTaskProcessor,
  Processor,
  ProcessorRegistrationError,
  ProcessorRegistry,
  type ProcessorClass,
} from '../../../src';

@Processor('registry-alpha')
class AlphaProcessor extends MaintenanceTaskProcessor {
  process() {
    return 'alpha';
  }
}

@Processor('registry-beta', { maxAttempts: 7 })
class BetaProcessor extends MaintenanceTaskProcessor {
  process() {
    return 'beta';
  }
}

/** Same type name as AlphaProcessor, different class. */
@Processor('registry-alpha')
class AlphaImpostor extends MaintenanceTaskProcessor {
  process() {
    return 'impostor';
  }
}

/** Extends the base class but has no decorator. */
class Undecorated extends MaintenanceTaskProcessor {
  process() {
    return null;
  }
}

/** Decorated with the right shape, but not a MaintenanceTaskProcessor. */
@Processor('registry-not-a-processor')
class NotAProcessor {
  process() {
    return null;
  }
}

/** Inherits from a decorated class without a decorator of its own. */
class AlphaChild extends AlphaProcessor {
  override process() {
    return 'child';
  }
}

function registrationError(fn: () => unknown): ProcessorRegistrationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ProcessorRegistrationError);
    expect((error as ProcessorRegistrationError).code).toBe('PROCESSOR_REGISTRATION');
    return error as ProcessorRegistrationError;
  }
  throw new Error('expected a ProcessorRegistrationError, nothing was thrown');
}

describe('ProcessorRegistry', () => {
  it('maps each @Processor name to its class and metadata', () => {
    const registry = new ProcessorRegistry([AlphaProcessor, BetaProcessor]);
    expect(registry.size).toBe(2);
    expect(registry.names().sort()).toEqual(['registry-alpha', 'registry-beta']);
    expect(registry.get('registry-alpha')?.cls).toBe(AlphaProcessor);
    expect(registry.get('registry-beta')?.meta).toEqual({ name: 'registry-beta', options: { maxAttempts: 7 } });
    expect(registry.get('registry-gamma')).toBeUndefined();
  });

  it('registering the same class twice is harmless', () => {
    const registry = new ProcessorRegistry([AlphaProcessor, AlphaProcessor]);
    registry.register(AlphaProcessor);
    expect(registry.size).toBe(1);
  });

  it('rejects two classes under one name, naming the name and both classes', () => {
    const error = registrationError(() => new ProcessorRegistry([AlphaProcessor, BetaProcessor, AlphaImpostor]));
    expect(error.message).toContain('"registry-alpha"');
    expect(error.message).toContain('AlphaProcessor');
    expect(error.message).toContain('AlphaImpostor');
  });

  it('a rejected duplicate leaves the first registration in place', () => {
    const registry = new ProcessorRegistry([AlphaProcessor]);
    registrationError(() => registry.register(AlphaImpostor));
    expect(registry.get('registry-alpha')?.cls).toBe(AlphaProcessor);
    expect(registry.size).toBe(1);
  });

  it('rejects a decorated class that does not extend MaintenanceTaskProcessor', () => {
    const error = registrationError(() => new ProcessorRegistry([NotAProcessor as unknown as ProcessorClass]));
    expect(error.message).toContain('NotAProcessor');
    expect(error.message).toContain('does not extend MaintenanceTaskProcessor');
  });

  it('rejects the base class itself', () => {
    const error = registrationError(() => new ProcessorRegistry([MaintenanceTaskProcessor as unknown as ProcessorClass]));
    expect(error.message).toContain('MaintenanceTaskProcessor');
  });

  it('rejects a class without @Processor, naming it', () => {
    const error = registrationError(() => new ProcessorRegistry([Undecorated as unknown as ProcessorClass]));
    expect(error.message).toContain('Undecorated');
    expect(error.message).toContain('@Processor');
  });

  it('a subclass of a decorated class does not inherit the registration', () => {
    const error = registrationError(() => new ProcessorRegistry([AlphaChild]));
    expect(error.message).toContain('AlphaChild');
    expect(error.message).toContain('@Processor');
    // And it cannot silently take over its parent's name.
    const registry = new ProcessorRegistry([AlphaProcessor]);
    registrationError(() => registry.register(AlphaChild));
    expect(registry.get('registry-alpha')?.cls).toBe(AlphaProcessor);
  });

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a number', 42],
    ['a string', 'registry-alpha'],
    ['a plain object', { name: 'x' }],
    ['an instance instead of the class', new AlphaProcessor()],
    ['an arrow function', () => 1],
  ])('rejects %s with a ProcessorRegistrationError (not a TypeError)', (_label, value) => {
    registrationError(() => new ProcessorRegistry([value as unknown as ProcessorClass]));
  });
});

import { instanceToPlain, plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { ProcessorValidationError, type PropertyProblem } from '../core/errors';

function flatten(errors: ValidationError[], parent = ''): PropertyProblem[] {
  const out: PropertyProblem[] = [];
  for (const error of errors) {
    const property = parent ? `${parent}.${error.property}` : error.property;
    if (error.constraints) out.push({ property, constraints: { ...error.constraints } });
    if (error.children?.length) out.push(...flatten(error.children, property));
  }
  return out;
}

/** Validates a processor instance; throws {@link ProcessorValidationError} listing every failing property. */
export function validateProcessor(instance: object, processorType: string): void {
  const errors = validateSync(instance, { forbidUnknownValues: false });
  if (errors.length) throw new ProcessorValidationError(processorType, flatten(errors));
}

/** Builds a processor from plain props through class-transformer (so `@Type` and defaults apply). */
export function instantiateProcessor<T extends object>(cls: new () => T, props: unknown): T {
  return plainToInstance(cls, props as object, { exposeDefaultValues: true }) as T;
}

/** Serialises a processor's props to the JSON stored in `processor_json`. */
export function serializeProcessor(instance: object): string {
  return JSON.stringify(instanceToPlain(instance, { exposeUnsetFields: false }));
}

/** Parses `processor_json`; throws SyntaxError with the parser's message when it is not JSON. */
export function parseProcessorJson(json: string): unknown {
  const value: unknown = JSON.parse(json);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SyntaxError(`processor_json must hold a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`);
  }
  return value;
}

import { UpkeepError } from './upkeep-error';

/** One failing property of a processor, with every constraint it broke. */
export interface PropertyProblem {
  /** Dotted path of the property, e.g. `userIds` or `options.batchSize`. */
  property: string;
  /** class-validator constraint name → message. */
  constraints: Record<string, string>;
}

/** Processor props failed class-validator validation; `problems` lists every failing property. */
export class ProcessorValidationError extends UpkeepError {
  /** Name given to `@Processor(...)`. */
  readonly processorType: string;
  /** Every failing property. */
  readonly problems: PropertyProblem[];

  constructor(processorType: string, problems: PropertyProblem[]) {
    const detail = problems
      .map((p) => `${p.property}: ${Object.values(p.constraints).join(', ')}`)
      .join('; ');
    super('PROCESSOR_VALIDATION', `Invalid props for processor "${processorType}": ${detail}`);
    this.name = 'ProcessorValidationError';
    this.processorType = processorType;
    this.problems = problems;
  }
}

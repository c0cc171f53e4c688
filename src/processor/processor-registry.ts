import { ProcessorRegistrationError } from '../core/errors';
import { MaintenanceTaskProcessor, type ProcessorClass } from './maintenance-task-processor';
import { getProcessorMetadata, type ProcessorMetadata } from './processor-metadata';

/** A registered processor: its class and its `@Processor` metadata. */
export interface RegisteredProcessor {
  /** The processor class. */
  cls: ProcessorClass;
  /** Its metadata. */
  meta: ProcessorMetadata;
}

/** Maps stable processor type names to classes; built from the list given to `Upkeep`. */
export class ProcessorRegistry {
  private readonly byName = new Map<string, RegisteredProcessor>();

  constructor(processors: Iterable<ProcessorClass> = []) {
    for (const cls of processors) this.register(cls);
  }

  /** Adds a class; throws `ProcessorRegistrationError` when it cannot be registered. */
  register(cls: ProcessorClass): void {
    if (typeof cls !== 'function') {
      throw new ProcessorRegistrationError(`Processors must be classes, got ${cls === null ? 'null' : typeof cls}`);
    }
    if (!(cls.prototype instanceof MaintenanceTaskProcessor)) {
      throw new ProcessorRegistrationError(`${cls.name || 'anonymous class'} does not extend MaintenanceTaskProcessor`);
    }
    const meta = getProcessorMetadata(cls);
    if (!meta) throw new ProcessorRegistrationError(`${cls.name} has no @Processor(name) decorator`);
    const existing = this.byName.get(meta.name);
    if (existing && existing.cls !== cls) {
      throw new ProcessorRegistrationError(
        `Processor name "${meta.name}" is used by both ${existing.cls.name} and ${cls.name}`,
      );
    }
    this.byName.set(meta.name, { cls, meta });
  }

  /** The processor registered under `name`, if any. */
  get(name: string): RegisteredProcessor | undefined {
    return this.byName.get(name);
  }

  /** Every registered type name. */
  names(): string[] {
    return [...this.byName.keys()];
  }

  /** Number of registered processors. */
  get size(): number {
    return this.byName.size;
  }
}

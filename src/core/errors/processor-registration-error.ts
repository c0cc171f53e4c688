import { UpkeepError } from './upkeep-error';

/** A processor class cannot be registered (missing @Processor, duplicate name, not a MaintenanceTaskProcessor). */
export class ProcessorRegistrationError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PROCESSOR_REGISTRATION', message, options);
    this.name = 'ProcessorRegistrationError';
  }
}

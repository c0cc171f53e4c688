import { UpkeepError } from './upkeep-error';

/** Settings were rejected; `problems` lists every offending key with the reason. */
export class SettingsValidationError extends UpkeepError {
  /** One entry per offending key, e.g. `{ key: 'tasks.max_queue_size', message: 'must be >= 1' }`. */
  readonly problems: ReadonlyArray<{ key: string; message: string }>;

  constructor(problems: ReadonlyArray<{ key: string; message: string }>) {
    super('INVALID_SETTINGS', `Invalid upkeep settings: ${problems.map((p) => `${p.key} ${p.message}`).join('; ')}`);
    this.name = 'SettingsValidationError';
    this.problems = problems;
  }
}

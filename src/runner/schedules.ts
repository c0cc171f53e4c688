import { Cron } from 'croner';
import { InvalidArgumentError } from '../core/errors';
import type { MaintenanceTaskProcessor } from '../processor/maintenance-task-processor';

/** What a cron schedule does after downtime, when occurrences were missed. */
export type CatchUpPolicy = 'none' | 'latest' | 'all';

/** A cron schedule: one task per occurrence, however many runners are up. */
export interface ScheduleDefinition {
  /** Stable name; part of each occurrence's unique key (`cron:<name>:<ISO time>`). */
  name: string;
  /** Cron pattern (5 fields, or 6 with seconds first), parsed by croner. */
  cron: string;
  /** IANA time zone of the pattern. @defaultValue the process's */
  timezone?: string;
  /** The processor to enqueue, or a function that builds one per occurrence. */
  processor: MaintenanceTaskProcessor | ((occurrence: Date) => MaintenanceTaskProcessor);
  /**
   * Missed occurrences after downtime: `latest` enqueues the most recent one, `all` every
   * one (up to `maxCatchUp`), `none` only an occurrence less than a minute old.
   * @defaultValue 'latest'
   */
  catchUp?: CatchUpPolicy;
  /** Most missed occurrences enqueued by `catchUp: 'all'`. @defaultValue 100 */
  maxCatchUp?: number;
  /** Priority of the enqueued tasks. */
  priority?: number;
  /** Attempts of the enqueued tasks. */
  maxAttempts?: number;
  /** Timeout of the enqueued tasks. */
  timeoutMs?: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,100}$/;
const NONE_TOLERANCE_MS = 60_000;

/** A validated schedule with its parsed pattern. @internal */
export class CompiledSchedule {
  readonly cron: Cron;
  readonly catchUp: CatchUpPolicy;
  readonly maxCatchUp: number;

  constructor(readonly def: ScheduleDefinition) {
    if (!def || typeof def !== 'object') throw new InvalidArgumentError('schedules: each schedule must be an object');
    if (typeof def.name !== 'string' || !NAME.test(def.name)) {
      throw new InvalidArgumentError(`schedules: name must be 1-101 characters of letters, digits and . _ : - (got ${JSON.stringify(def.name)})`);
    }
    try {
      this.cron = new Cron(def.cron, { timezone: def.timezone, paused: true });
    } catch (error) {
      throw new InvalidArgumentError(`schedules["${def.name}"]: invalid cron pattern ${JSON.stringify(def.cron)}: ${(error as Error).message}`);
    }
    if (typeof def.processor !== 'function' && (typeof def.processor !== 'object' || def.processor === null)) {
      throw new InvalidArgumentError(`schedules["${def.name}"]: processor must be a processor or a function returning one`);
    }
    this.catchUp = def.catchUp ?? 'latest';
    if (!['none', 'latest', 'all'].includes(this.catchUp)) {
      throw new InvalidArgumentError(`schedules["${def.name}"]: catchUp must be 'none', 'latest' or 'all'`);
    }
    this.maxCatchUp = def.maxCatchUp ?? 100;
  }

  /** Unique key of one occurrence. */
  keyOf(occurrence: Date): string {
    return `cron:${this.def.name}:${occurrence.toISOString()}`;
  }

  /** Prefix shared by every occurrence's key. */
  get keyPrefix(): string {
    return `cron:${this.def.name}:`;
  }

  processorFor(occurrence: Date): MaintenanceTaskProcessor {
    return typeof this.def.processor === 'function' ? (this.def.processor as (o: Date) => MaintenanceTaskProcessor)(occurrence) : this.def.processor;
  }

  /** Occurrences after `after` up to and including `now` that the catch-up policy keeps. */
  due(after: Date, now: Date): Date[] {
    // Walk back from now (bounded by maxCatchUp), not forward from `after`: after a long
    // downtime a per-second schedule would otherwise cost millions of steps.
    const want = this.catchUp === 'all' ? this.maxCatchUp : 1;
    const nowPlus = new Date(now.getTime() + 1); // previousRuns is exclusive of its reference
    const recent = this.cron.previousRuns(want, nowPlus).filter((d) => d > after && d <= now);
    recent.sort((a, b) => a.getTime() - b.getTime());
    if (!recent.length) return [];
    if (this.catchUp === 'all') return recent;
    const latest = recent[recent.length - 1]!;
    if (this.catchUp === 'none' && now.getTime() - latest.getTime() > NONE_TOLERANCE_MS) return [];
    return [latest];
  }

  /** The next occurrence after `now`. */
  next(now: Date): Date | null {
    return this.cron.nextRun(now);
  }
}

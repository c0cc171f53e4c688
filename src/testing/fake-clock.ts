import { InvalidArgumentError } from '../core/errors';

/**
 * A clock a test moves by hand, for `new Upkeep({ clock })` (or `createTestUpkeep`): due
 * times, retry backoff, cron occurrences, lease expiry and retention are all read from it.
 * Durations and timeouts of a running attempt keep using real time.
 */
export interface FakeClock {
  /** The current fake time (a new Date each call); pass `clock.now` as the `clock` option. */
  readonly now: () => Date;
  /** Moves the clock forward by `ms` (0 or more) and returns the new time. */
  advance(ms: number): Date;
  /** Sets the clock to `date` (may go backwards, to test clock skew) and returns it. */
  set(date: Date | number | string): Date;
}

const toMs = (value: Date | number | string, where: string): number => {
  const ms = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : Date.parse(value);
  if (!Number.isFinite(ms)) throw new InvalidArgumentError(`${where}: not a valid date: ${JSON.stringify(value)}`);
  return ms;
};

/** A {@link FakeClock} starting at `start`. @defaultValue the real time when it is created, to the millisecond */
export function createFakeClock(start: Date | number | string = Date.now()): FakeClock {
  let current = toMs(start, 'createFakeClock(start)');
  return {
    now: () => new Date(current),
    advance(ms: number): Date {
      if (!Number.isFinite(ms) || ms < 0) throw new InvalidArgumentError(`clock.advance(ms): ms must be a non-negative number (got ${JSON.stringify(ms)})`);
      current += ms;
      return new Date(current);
    },
    set(date) {
      current = toMs(date, 'clock.set(date)');
      return new Date(current);
    },
  };
}

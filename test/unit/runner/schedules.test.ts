import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, MaintenanceTaskProcessor, Processor } from '../../../src';
import { CompiledSchedule, type ScheduleDefinition } from '../../../src/runner/schedules';

@Processor('sched-noop')
class Noop extends MaintenanceTaskProcessor {
  process() {
    return null;
  }
}

const def = (over: Partial<ScheduleDefinition> = {}): ScheduleDefinition => ({
  name: 'hourly',
  cron: '0 * * * *', // every hour on the hour
  timezone: 'UTC',
  processor: () => Noop.create({}),
  ...over,
});
const at = (iso: string) => new Date(iso);

describe('cron catch-up after downtime', () => {
  // Down from 03:30 to 09:10: the 04:00 ... 09:00 occurrences (6) were missed.
  const after = at('2026-11-28T03:30:00Z');
  const now = at('2026-11-28T09:10:00Z');

  it("'latest' enqueues only the most recent missed occurrence", () => {
    expect(new CompiledSchedule(def({ catchUp: 'latest' })).due(after, now)).toEqual([at('2026-11-28T09:00:00Z')]);
  });

  it("'all' enqueues every missed occurrence, oldest first, at most maxCatchUp", () => {
    const all = new CompiledSchedule(def({ catchUp: 'all' })).due(after, now);
    expect(all.map((d) => d.toISOString().slice(11, 16))).toEqual(['04:00', '05:00', '06:00', '07:00', '08:00', '09:00']);
    const capped = new CompiledSchedule(def({ catchUp: 'all', maxCatchUp: 2 })).due(after, now);
    expect(capped).toEqual([at('2026-11-28T08:00:00Z'), at('2026-11-28T09:00:00Z')]);
  });

  it("'none' enqueues an occurrence only while it is less than a minute old", () => {
    const none = new CompiledSchedule(def({ catchUp: 'none' }));
    expect(none.due(after, now)).toEqual([]);
    expect(none.due(after, at('2026-11-28T09:00:30Z'))).toEqual([at('2026-11-28T09:00:00Z')]);
  });

  it('a per-second schedule after a year of downtime stays cheap (walks back, bounded)', () => {
    const started = performance.now();
    const due = new CompiledSchedule(def({ cron: '* * * * * *', catchUp: 'all', maxCatchUp: 5 })).due(at('2025-11-28T00:00:00Z'), now);
    expect(due).toHaveLength(5);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('unique keys name the schedule and the occurrence', () => {
    const s = new CompiledSchedule(def());
    expect(s.keyOf(at('2026-11-28T09:00:00Z'))).toBe('cron:hourly:2026-11-28T09:00:00.000Z');
    expect(s.keyOf(at('2026-11-28T09:00:00Z')).startsWith(s.keyPrefix)).toBe(true);
  });

  it('bad definitions are rejected naming the schedule', () => {
    expect(() => new CompiledSchedule(def({ cron: 'every tuesday' }))).toThrow(InvalidArgumentError);
    expect(() => new CompiledSchedule(def({ cron: 'every tuesday' }))).toThrow(/schedules\["hourly"\]: invalid cron pattern/);
    expect(() => new CompiledSchedule(def({ name: 'has space' }))).toThrow(/name/);
    expect(() => new CompiledSchedule(def({ catchUp: 'sometimes' as 'all' }))).toThrow(/catchUp/);
  });
});

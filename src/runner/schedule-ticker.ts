import type { RunnerCore } from './runner-types';

/** Enqueues each due cron occurrence; unique keys make every runner's insert but one a no-op. @internal */
export class ScheduleTicker {
  constructor(private readonly r: RunnerCore) {}

  readonly scheduleCursor = new Map<string, Date>();

  /** Enqueues each due cron occurrence; unique keys make every runner's insert but one a no-op. */
  async tickSchedules(): Promise<void> {
    const now = this.r.up.now();
    for (const schedule of this.r.up.schedules) {
      let after = this.scheduleCursor.get(schedule.def.name);
      if (!after) {
        // First tick of this runner: continue after the latest occurrence any runner enqueued.
        after = (await this.r.up.runnerStore.latestOccurrenceWithKeyPrefix(schedule.keyPrefix)) ?? now;
      }
      const due = schedule.due(after, now);
      if (due.length) {
        const results = await this.r.up.enqueue(
          due.map((occurrence) => ({
            processor: schedule.processorFor(occurrence),
            uniqueKey: schedule.keyOf(occurrence),
            startAt: occurrence,
            priority: schedule.def.priority,
            maxAttempts: schedule.def.maxAttempts,
            timeoutMs: schedule.def.timeoutMs,
          })),
        );
        results.forEach((r, i) => {
          if (r.created) this.r.up.publish('schedule:enqueued', { name: schedule.def.name, occurrence: due[i]!, task: r.task });
        });
      }
      this.scheduleCursor.set(schedule.def.name, now > after ? now : after);
    }
  }
}

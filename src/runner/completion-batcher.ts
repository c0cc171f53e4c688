import { classifyWriteError } from '../store/write-errors';
import type { PendingCompletion, RunnerCore } from './runner-types';
import { delay, writeBackoffMs, toCompletionRow } from './runner-types';

/** Collects successful results during one turn of the event loop and writes them in batches; a passing failure is written again later, a refused value fails only its task. @internal */
export class CompletionBatcher {
  constructor(private readonly r: RunnerCore) {}

  completions: PendingCompletion[] = [];
  /** Results of the batch being written right now. */
  private writing = 0;
  flushScheduled = false;

  /** Results finished but not stored yet (waiting or being written): their rows are still WORKING. */
  get unwritten(): number {
    return this.completions.length + this.writing;
  }
  flushing: Promise<void> = Promise.resolve();

  scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flushCompletions();
    });
  }

  flushCompletions(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      let failures = 0;
      while (this.completions.length) {
        const batch = this.completions.splice(0);
        const now = this.r.up.now();
        this.writing = batch.length;
        try {
          const written = new Set(await this.r.up.runnerStore.completeMany(this.r.id, batch.map(toCompletionRow), now));
          failures = 0;
          this.r.outcomes.afterCompletions(batch, written, now);
          continue;
        } catch (error) {
          this.r.reportError('complete', error);
          const kind = classifyWriteError(error, this.r.up.runnerStore.db.dialect);
          // A refused value (or an error that keeps coming back): find the row, write the others.
          if (kind === 'refused' || (kind === 'unknown' && failures >= 2)) {
            await this.writeOneByOne(batch, now);
            if (!this.completions.length) continue;
          } else this.completions.unshift(...batch);
        } finally {
          this.writing = 0;
        }
        // A passing outage: wait and write the same results again; the outcome never changes.
        failures++;
        if (this.r.outcomes.pastWriteDeadline()) {
          // Stopping and the database is still away: the leases lapse and the tasks are rescued.
          const dropped = this.completions.splice(0);
          for (const c of dropped) this.r.leaseClock.forget(c.task.id);
          this.r.up.logger.warn(`runner ${this.r.id}: ${dropped.length} result(s) could not be written before the stop deadline; their tasks will be rescued and run again`);
          break;
        }
        await delay(writeBackoffMs(failures));
      }
    });
    return this.flushing.then(() => {
      if (this.r.isQuiet()) this.r.checkIdle();
      // Completed tasks may have unblocked dependents: look for them now, not at the next poll.
      if (this.r.claims.queueLow) this.r.claims.requestPump();
    });
  }

  /** Writes each result on its own: a refused one fails its task, a passing failure is written again later. */
  async writeOneByOne(batch: PendingCompletion[], now: Date): Promise<void> {
    for (const c of batch) {
      try {
        const written = new Set(await this.r.up.runnerStore.completeMany(this.r.id, [toCompletionRow(c)], now));
        this.r.outcomes.afterCompletions([c], written, now);
      } catch (error) {
        const kind = classifyWriteError(error, this.r.up.runnerStore.db.dialect);
        c.failures = (c.failures ?? 0) + 1;
        if (kind === 'refused' || (kind === 'unknown' && c.failures >= 5)) await this.r.outcomes.failCompletion(c, error);
        else this.completions.push(c);
      }
    }
  }
}

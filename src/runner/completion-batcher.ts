import { classifyWriteError } from '../store/write-errors';
import type { PendingCompletion, RunnerCore } from './runner-types';
import { delay, writeBackoffMs, toCompletionRow } from './runner-types';

/**
 * Collects successful results and writes them in batches, adaptively: at once while the
 * runner is idle (a lone task's result is stored on the next turn of the event loop), in
 * fewer, bigger statements under load. A passing failure is written again later, a refused
 * value fails only its task. @internal
 */
export class CompletionBatcher {
  constructor(private readonly r: RunnerCore) {}

  /** Under load, results wait at most this long after the previous write for more to join theirs (ms). */
  static readonly COALESCE_MS = 10;

  completions: PendingCompletion[] = [];
  /** Results of the batch being written right now. */
  private writing = 0;
  /** The batch being written right now (its leases are renewed by the heartbeat like the waiting ones). */
  writingBatch: readonly PendingCompletion[] = [];
  flushScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private lastWriteAt = 0;

  /** Results finished but not stored yet (waiting or being written): their rows are still WORKING. */
  get unwritten(): number {
    return this.completions.length + this.writing;
  }

  /** A runner with this many results unwritten (its database is slow or away) claims nothing more until they are stored. */
  static readonly MAX_UNWRITTEN = 1000;

  /** True while the results waiting to be stored are at the bound: the claim loop waits. */
  get backedUp(): boolean {
    return this.unwritten >= CompletionBatcher.MAX_UNWRITTEN;
  }
  flushing: Promise<void> = Promise.resolve();

  /** A batch this big is written at once, load or not. */
  static readonly FLUSH_AT = 200;

  /**
   * True while more results are coming soon: other tasks run or wait here. (The task whose
   * result was just added is still counted in flight, hence more than one.)
   */
  private get busy(): boolean {
    return !this.r.stopping && (this.r.inFlight.size > 1 || this.r.queue.size > 0);
  }

  /** Milliseconds the waiting results should still wait for more; 0: write now. */
  private waitMs(): number {
    if (!this.busy || this.completions.length >= CompletionBatcher.FLUSH_AT) return 0;
    return Math.max(0, this.lastWriteAt + CompletionBatcher.COALESCE_MS - performance.now());
  }

  /** Writes the waiting results soon: now when idle or a batch is full, else after the coalescing wait. */
  scheduleFlush(): void {
    if (this.flushScheduled) {
      // A full batch (or the runner going idle) does not wait for the timer.
      if (this.timer && this.waitMs() === 0) {
        clearTimeout(this.timer);
        this.timer = undefined;
        this.flushScheduled = false;
      } else return;
    }
    this.flushScheduled = true;
    const wait = this.waitMs();
    const run = () => {
      this.timer = undefined;
      this.flushScheduled = false;
      void this.flushCompletions(false);
    };
    if (wait <= 0) setImmediate(run);
    else {
      this.timer = setTimeout(run, Math.ceil(wait));
      this.timer.unref?.();
    }
  }

  /** Called when the runner's last running task ended: results waiting for company go out now. */
  nudge(): void {
    if (this.completions.length && this.timer) this.scheduleFlush();
  }

  /** Writes every waiting result (`all`: also those that would wait for a bigger batch, e.g. on stop). */
  flushCompletions(all = true): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      let failures = 0;
      while (this.completions.length) {
        // Under load, a small batch right after a write waits for more (scheduleFlush comes back).
        if (!all && failures === 0 && this.waitMs() > 0) {
          this.scheduleFlush();
          break;
        }
        const batch = this.completions.splice(0, CompletionBatcher.FLUSH_AT);
        const now = this.r.up.now();
        this.writing = batch.length;
        this.writingBatch = batch;
        this.lastWriteAt = performance.now();
        try {
          const written = new Set(await this.r.up.runnerStore.completeMany(this.r.id, batch.map(toCompletionRow), now));
          if (failures > 0) await this.recognisePriorWrites(batch, written);
          failures = 0;
          this.r.outcomes.afterCompletions(batch, written, now);
          continue;
        } catch (error) {
          this.r.reportError('complete', error, { retried: true });
          const kind = classifyWriteError(error, this.r.up.runnerStore.db.dialect);
          // A refused value (or an error that keeps coming back): find the row, write the others.
          if (kind === 'refused' || (kind === 'unknown' && failures >= 2)) {
            await this.writeOneByOne(batch, now);
            if (!this.completions.length) continue;
          } else this.completions.unshift(...batch);
        } finally {
          this.writing = 0;
          this.writingBatch = [];
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

  /**
   * A write that failed in flight may have committed all the same (its reply lost): a row of
   * the batch the retry did not change is this runner's own result when it is COMPLETED at
   * exactly the next version (any other runner would have claimed it first, bumping it twice).
   */
  private async recognisePriorWrites(batch: PendingCompletion[], written: Set<string>): Promise<void> {
    const missing = batch.filter((c) => !written.has(c.task.id));
    if (!missing.length) return;
    const rows = await this.r.up.runnerStore.getTasks(missing.map((c) => c.task.id)).catch(() => new Map());
    for (const c of missing) {
      const row = rows.get(c.task.id);
      if (row?.status === 'COMPLETED' && row.version === c.task.version + 1) written.add(c.task.id);
    }
  }

  /** Writes each result on its own: a refused one fails its task, a passing failure is written again later. */
  async writeOneByOne(batch: PendingCompletion[], now: Date): Promise<void> {
    for (const c of batch) {
      try {
        const written = new Set(await this.r.up.runnerStore.completeMany(this.r.id, [toCompletionRow(c)], now));
        // Written one by one after failed batch writes: one of those may have committed unseen.
        await this.recognisePriorWrites([c], written);
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

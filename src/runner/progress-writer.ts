import type { InFlight, RunnerCore } from './runner-types';

const PROGRESS_WRITE_INTERVAL_MS = 1000;

/** Publishes progress and stores it (with the cursor) at most about once a second per running task. @internal */
export class ProgressWriter {
  constructor(private readonly r: RunnerCore) {}

  onProgress(flight: InFlight, done: number | null, total: number | null, emit = true): void {
    const { task } = flight;
    task.progressDone = done;
    task.progressTotal = total;
    if (emit && done !== null) this.r.up.publish('task:progress', { task, done, total });
    // Persist at most about once a second; a trailing write catches the last value.
    if (flight.progressTimer) return;
    const since = Date.now() - flight.lastProgressWrite;
    const write = () => {
      flight.progressTimer = undefined;
      flight.lastProgressWrite = Date.now();
      if (!this.r.inFlight.has(task.id)) return;
      this.r.up.runnerStore
        .saveProgress(this.r.id, task.id, { done: flight.ctx.progressDone, total: flight.ctx.progressTotal, cursor: flight.ctx.latestCursor }, this.r.up.now())
        .catch((error) => this.r.reportError('progress', error));
    };
    if (since >= PROGRESS_WRITE_INTERVAL_MS) write();
    else {
      flight.progressTimer = setTimeout(write, PROGRESS_WRITE_INTERVAL_MS - since);
      flight.progressTimer.unref?.();
    }
  }
}

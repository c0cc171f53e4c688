import { isLockConflict } from '../store/write-errors';
import { placementDevice } from './placement-of';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import { ANY } from '../resources/device-placement';
import type { RunnerCore } from './runner-types';

/** The claim loop: claims due tasks while the local queue runs low, keeps a wake-up that arrives during a claim, polls (with backoff while the database fails), and confirms idleness for exitWhenIdle runners. @internal */
export class ClaimLoop {
  constructor(private readonly r: RunnerCore) {}

  pumping = false;
  pumpAgain = false;
  claimFailures = 0;
  /** A claim failed in flight: it may have committed all the same, its reply lost. */
  claimUncertain = false;
  pollTimer: NodeJS.Timeout | undefined;
  pumpDone: Promise<void> = Promise.resolve();
  /** When the latest wake-up (or start) came, and whether an empty claim after it was already tried again. */
  wokenAt = 0;
  wakeRetried = false;

  requestPump(): void {
    if (!this.r.running || this.r.stopping) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumpDone = this.pump();
  }

  async pump(): Promise<void> {
    this.pumping = true;
    if (this.pollTimer) {
      clearTimeout(this.pollTimer);
      this.pollTimer = undefined;
    }
    let lastClaimEmpty = false;
    let lockConflict = false;
    try {
      do {
        this.pumpAgain = false;
        this.r.dispatch();
        // Keep up to prefetchTarget claimed (running + queued), the local queue within
        // maxQueueSize; a runner whose writes lag (or fail) far behind stops claiming instead of
        // running ahead (CompletionBatcher.MAX_UNWRITTEN results waiting).
        this.sampleRate();
        // Rows of a claim that committed unseen are taken up first, whether or not there is room.
        if (this.claimUncertain && !this.r.stopping) await this.adoptUnknownClaims();
        const room = this.room;
        // Claim when the local queue runs low, so slots refill at once while work remains.
        if (this.r.stopping || room <= 0 || !this.queueLow) continue;
        const limit = Math.min(room, this.r.options.claimBatchSize);
        const sentAt = Date.now();
        const claimed = await this.r.up.runnerStore.claim({
          runnerId: this.r.id,
          types: this.r.processorTypes,
          limit,
          leaseMs: this.r.options.leaseMs,
          now: this.r.up.now(),
          device: this.soleDevice(),
        });
        this.claimFailures = 0;
        for (const task of claimed) this.r.leaseClock.renew(task.id, sentAt);
        lastClaimEmpty = claimed.length === 0;
        if (this.r.stopping) {
          // stop() began while this claim was in flight: these go straight back.
          await this.r.outcomes.handBack(claimed, 'shutdown');
          break;
        }
        for (const task of claimed) this.enqueueLocal(task);
        this.r.counters.claimed += claimed.length;
        this.r.dispatch();
        if (claimed.length === limit) this.pumpAgain = true;
      } while (this.pumpAgain && !this.r.stopping);
    } catch (error) {
      const dialect = this.r.up.runnerStore.db.dialect;
      if (dialect !== 'sqlite' && isLockConflict(error, dialect)) {
        // A deadlock or lock timeout between concurrent claims is normal under load: claim
        // again at once instead of backing off like an outage. (SQLite's BUSY is another
        // connection holding the file's write lock past the busy timeout: reported, backed off.)
        lockConflict = true;
        this.r.counters.lockConflicts++;
      } else {
        this.claimFailures++;
        this.claimUncertain = true;
        this.r.reportError('claim', error);
      }
    } finally {
      this.pumping = false;
    }
    if (this.r.stopping) return;
    if (lastClaimEmpty) this.r.checkIdle();
    // Poll again later; a failing database backs off up to 30 s.
    // A claim that came back empty right after a wake-up may have skipped a due row that was
    // locked for a moment (MySQL/MariaDB foreign-key checks of an event insert): look once more soon.
    const retryWake = lastClaimEmpty && !this.wakeRetried && Date.now() - this.wokenAt < 1000;
    if (retryWake) this.wakeRetried = true;
    else if (!lastClaimEmpty) this.wakeRetried = false;
    const wait = lockConflict
      ? 10
      : this.claimFailures
      ? Math.min(30_000, this.r.options.pollIntervalMs * 2 ** Math.min(this.claimFailures, 5))
      : retryWake
        ? Math.min(50, this.r.options.pollIntervalMs)
        : this.r.options.pollIntervalMs;
    if (!this.pollTimer && !(this.r.options.exitWhenIdle && lastClaimEmpty && this.r.isQuiet())) {
      this.pollTimer = setTimeout(() => {
        this.pollTimer = undefined;
        this.requestPump();
      }, wait);
      this.pollTimer.unref?.();
    }
  }

  /**
   * After a claim that failed in flight: rows this runner holds that it does not know of came
   * from a claim that committed while its reply was lost (a connection cut at the wrong time).
   * They are taken up as claimed, not left to sit until their lease expires and a rescue
   * counts an attempt against them.
   */
  async adoptUnknownClaims(): Promise<void> {
    const releasedMeanwhile = this.r.leaseClock.watchReleases();
    const held = await this.r.up.runnerStore.findHeldBy(this.r.id, 10_000).catch((error: unknown) => {
      releasedMeanwhile();
      throw error;
    });
    const released = releasedMeanwhile();
    this.claimUncertain = false;
    // Not unknown: tasks this process finished or let go of while the read was on its way (the
    // read saw them WORKING before their completion committed), and any it still tracks.
    const unknown = held.filter((task) => !this.r.leaseClock.has(task.id) && !released.has(task.id) && !this.tracks(task.id) && task.leaseExpiresAt);
    if (!unknown.length) return;
    for (const task of unknown) this.r.leaseClock.holdUntil(task.id, task.leaseExpiresAt!.getTime());
    if (this.r.stopping) return void (await this.r.outcomes.handBack(unknown, 'shutdown'));
    for (const task of unknown) this.enqueueLocal(task);
    this.r.counters.claimed += unknown.length;
    this.r.up.logger.info(`runner ${this.r.id}: took up ${unknown.length} task(s) claimed by a claim whose reply was lost`);
  }

  /** True while the task runs here, waits in the local queue or waits for its result to be written. */
  private tracks(id: string): boolean {
    const { r } = this;
    return r.inFlight.has(id) || r.queue.has(id) || r.batcher.completions.some((c) => c.task.id === id) || r.batcher.writingBatch.some((c) => c.task.id === id);
  }

  /** With one healthy device, the claim itself records it: no extra write per task. */
  soleDevice(): string | undefined {
    if (!this.r.placement) return undefined;
    const healthy = this.r.placement.list().filter((d) => d.healthy);
    return healthy.length === 1 ? healthy[0]!.id : undefined;
  }

  enqueueLocal(task: MaintenanceTask): void {
    const routing = placementDevice(task) ?? ANY;
    // An older claim of the same task still waiting here lost its lease meanwhile (the task was
    // rescued while this process was frozen or its heartbeats failed, and this runner claimed it
    // again): the new claim replaces it, so the stale attempt never starts on the new lease.
    if (this.r.queue.has(task.id)) this.r.queue.remove(task.id);
    if (!this.r.queue.add(task, task.priority, routing)) {
      // Cannot happen while claims respect the bound; hand it back rather than lose it.
      void this.r.outcomes.handBack([task], 'queue_timeout');
    }
  }

  /** Window of the throughput sample that sizes the local queue (ms). */
  static readonly RATE_WINDOW_MS = 100;
  /** How far ahead of the handlers a runner claims: this many milliseconds of work at the measured rate. */
  static readonly AHEAD_MS = 250;
  /** Tasks started per millisecond, smoothed over the last few windows. */
  rate = 0;
  private rateAt = 0;
  private startedAtSample = 0;
  /** Tasks started so far (the runner counts them). */
  started = 0;

  /**
   * Updates the measured start rate (tasks per ms) once per window, or sooner once 2 x
   * concurrency tasks started since the last sample (fast tasks: a burst is claimed deep
   * within milliseconds instead of after a whole window at the shallow depth).
   */
  sampleRate(now = performance.now()): void {
    const elapsed = now - this.rateAt;
    const enough = this.started - this.startedAtSample >= 2 * this.r.options.concurrency && elapsed >= 2;
    if (elapsed < ClaimLoop.RATE_WINDOW_MS && !enough) return;
    const current = (this.started - this.startedAtSample) / elapsed;
    // A long gap (idle runner) says little about the next burst: start over from it.
    this.rate = elapsed > 10 * ClaimLoop.RATE_WINDOW_MS ? current : 0.5 * this.rate + 0.5 * current;
    this.rateAt = now;
    this.startedAtSample = this.started;
  }

  /**
   * Tasks a runner keeps claimed and not yet finished (running + queued). Adaptive:
   * at least max(2 x concurrency, claimFloor) and, while tasks run fast, as many as the
   * handlers get through in AHEAD_MS, at most concurrency + maxQueueSize (what it can run and
   * queue). Slow tasks keep the shallow queue, so one runner does not hoard tasks other
   * runners could run. Finished results waiting to be stored count too, so a runner killed
   * mid-write leaves few finished tasks to be run again (CompletionBatcher.MAX_UNWRITTEN is a
   * second bound).
   */
  get prefetchTarget(): number {
    const { concurrency } = this.r.options;
    const floor = Math.max(concurrency * 2, this.r.options.claimFloor);
    const ahead = Math.ceil(this.rate * ClaimLoop.AHEAD_MS) + concurrency;
    return Math.max(floor, Math.min(ahead, concurrency + this.r.up.settings.maxQueueSize));
  }

  /** How many more tasks may be claimed now. */
  get room(): number {
    if (this.r.batcher.backedUp) return 0;
    return Math.min(this.prefetchTarget - this.r.inFlight.size - this.r.batcher.unwritten, this.r.up.settings.maxQueueSize) - this.r.queue.size;
  }

  /**
   * True when the local queue is low enough to claim more: it is about to run dry, or a
   * claim would bring at least half a batch (fewer, bigger claims under load).
   */
  get queueLow(): boolean {
    const size = this.r.queue.size;
    if (size <= Math.max(this.r.options.concurrency / 2, 1)) return true;
    return this.room >= Math.max(this.r.options.concurrency, Math.min(this.r.options.claimBatchSize, this.prefetchTarget) / 2);
  }

  async confirmIdle(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    let empty = false;
    try {
      const sentAt = Date.now();
      const claimed = await this.r.up.runnerStore.claim({
        runnerId: this.r.id,
        types: this.r.processorTypes,
        limit: Math.min(this.r.options.claimBatchSize, this.r.options.concurrency * 2),
        leaseMs: this.r.options.leaseMs,
        now: this.r.up.now(),
        device: this.soleDevice(),
      });
      empty = claimed.length === 0;
      for (const task of claimed) this.r.leaseClock.renew(task.id, sentAt);
      for (const task of claimed) this.enqueueLocal(task);
      this.r.counters.claimed += claimed.length;
    } catch (error) {
      this.r.reportError('claim', error);
    } finally {
      this.pumping = false;
    }
    // A wake-up that arrived during this claim is not lost: claim again.
    if (empty && this.r.isQuiet() && !this.pumpAgain) {
      await this.r.up.recorder.flush();
      this.r.resolveIdle();
    } else {
      this.requestPump();
    }
  }
}

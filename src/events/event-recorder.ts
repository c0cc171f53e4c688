import { consoleLogger, type UpkeepLogger } from '../core/logger';
import type { Executor } from '../store/executor';
import { insertEvents, type EventRow } from '../store/event-store';
import { classifyWriteError } from '../store/write-errors';
import { isForeignKeyViolation } from './foreign-key-violation';

export type { EventRow };

/** Options of {@link EventRecorder}; every field has a default. */
export interface EventRecorderOptions {
  /** Where drops (over the bound, refused rows) and flushes that gave up are reported. @defaultValue `consoleLogger('warn')` */
  logger?: UpkeepLogger;
  /** Longest time a recorded row waits before its batch is written (a row recorded during a write: after that write). @defaultValue 100 */
  flushIntervalMs?: number;
  /** Rows per INSERT; a batch is written as soon as this many wait. @defaultValue 500 */
  maxBatch?: number;
  /**
   * Most rows kept in memory while the database cannot take them (an outage). Over it, the
   * oldest waiting rows are dropped in chunks of 2 % of the bound, with one warning per outage
   * and a count logged when the outage ends. 50,000 rows are about 15-25 MB.
   * @defaultValue 50_000
   */
  maxBufferedRows?: number;
  /** First wait before a batch that failed for a passing reason is written again; doubles per failure. @defaultValue 100 */
  retryInitialDelayMs?: number;
  /** Longest wait between two tries of a failing batch. @defaultValue 5_000 */
  retryMaxDelayMs?: number;
  /** How long {@link EventRecorder.flush} waits for the database by default before it gives up. @defaultValue 10_000 */
  flushTimeoutMs?: number;
}

/** What the recorder did since it was made (all counts of `task_events` rows). */
export interface EventRecorderStats {
  /** Rows stored. */
  written: number;
  /** Rows dropped because more than `maxBufferedRows` waited during an outage. */
  droppedOverBound: number;
  /** Rows the database refused (a task deleted meanwhile: foreign key; a value it cannot store). */
  droppedRefused: number;
  /** Rows still unwritten when {@link EventRecorder.close} gave up on the database. */
  lostAtClose: number;
  /** Failed INSERTs that were tried again later (passing database failures). */
  retries: number;
}

interface Queued {
  seq: number;
  row: EventRow;
  /** Failures of this row alone with an error that says neither "passing" nor "refused", counted only while other rows were being stored. */
  unclearFailures: number;
  failedAt: number;
}

/** Result of writing some rows: what must be written again, and the error that said so. */
interface WriteResult {
  retry: Queued[];
  error?: unknown;
}

const DONE: WriteResult = { retry: [] };
/** A row that fails alone this many times with an unclassified error while the database stores other rows is taken as refused. */
const UNCLEAR_FAILURES_TO_DROP = 3;

/**
 * Persists events to `task_events` in batches: rows collect in memory and are written by one
 * multi-row INSERT per flush (at most every `flushIntervalMs`, or sooner when `maxBatch` rows
 * wait), never one INSERT per event on the hot path.
 *
 * When the database cannot take a batch for a passing reason (connection lost, server
 * restarting, deadlock: `classifyWriteError` says `transient`), the rows stay queued, in order,
 * and the batch is written again with exponential backoff; memory stays bounded by
 * `maxBufferedRows`. Only a row the database refuses (a foreign-key violation for a task
 * deleted meanwhile, a value it cannot store) is dropped, and only that row: the batch is split
 * in halves until the refused row stands alone.
 */
export class EventRecorder {
  private queue: Queued[] = [];
  /** Rows being written right now (taken from the head of the queue). */
  private inFlight: Queued[] = [];
  private seq = 0;
  /** Every row with a sequence number up to this one is stored or dropped. */
  private settledSeq = 0;
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private failures = 0;
  private lastError: unknown;
  private lastSuccessAt = 0;
  private wakeBackoff: (() => void) | undefined;
  /** Bumped by close(): a write begun before it puts nothing back. */
  private epoch = 0;
  private waiters: Array<{ seq: number; resolve: () => void }> = [];
  /** Rows dropped over the bound during the current outage (reported when it ends). */
  private droppedThisOutage = 0;
  /** A flush already warned that it gave up during the current outage. */
  private warnedFlushThisOutage = false;
  private readonly logger: UpkeepLogger;
  private readonly flushIntervalMs: number;
  private readonly maxBatch: number;
  private readonly maxBufferedRows: number;
  private readonly retryInitialDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly flushTimeoutMs: number;
  readonly stats: EventRecorderStats = { written: 0, droppedOverBound: 0, droppedRefused: 0, lostAtClose: 0, retries: 0 };

  /**
   * @param db where the rows go (its dialect classifies write errors)
   * @param onError called for a row dropped for a reason that is not a deleted task (a bug to see)
   */
  constructor(
    private readonly db: Executor,
    private readonly onError: (error: unknown) => void,
    options: EventRecorderOptions = {},
  ) {
    this.logger = options.logger ?? consoleLogger('warn');
    this.flushIntervalMs = options.flushIntervalMs ?? 100;
    this.maxBatch = Math.max(1, options.maxBatch ?? 500);
    this.maxBufferedRows = Math.max(this.maxBatch, options.maxBufferedRows ?? 50_000);
    this.retryInitialDelayMs = options.retryInitialDelayMs ?? 100;
    this.retryMaxDelayMs = options.retryMaxDelayMs ?? 5_000;
    this.flushTimeoutMs = options.flushTimeoutMs ?? 10_000;
  }

  /** Queues a row for the next flush. */
  record(row: EventRow): void {
    this.queue.push({ seq: ++this.seq, row, unclearFailures: 0, failedAt: 0 });
    this.enforceBound();
    if (this.draining) return; // the write loop takes it next
    if (this.queue.length >= this.maxBatch) this.startDraining();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.startDraining();
      }, this.flushIntervalMs);
      this.timer.unref?.();
    }
  }

  /** Rows waiting to be written (queued or being written). */
  get pending(): number {
    return this.queue.length + this.inFlight.length;
  }

  /**
   * Writes everything recorded so far; resolves when it is stored (or refused), or after
   * `timeoutMs` while the database is still away: then the rows stay queued and are retried
   * as long as this process lives, and a warning says how many are waiting.
   * @returns the number of rows recorded before the call that are still unwritten (0: all stored)
   */
  async flush(timeoutMs: number = this.flushTimeoutMs): Promise<number> {
    const target = this.seq;
    if (this.settledSeq >= target) return 0;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.startDraining();
    let timer: NodeJS.Timeout | undefined;
    const waiter = { seq: target, resolve: () => undefined as void };
    const stored = new Promise<boolean>((resolve) => {
      waiter.resolve = () => resolve(true);
      this.waiters.push(waiter);
    });
    const gaveUp = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, timeoutMs));
      timer.unref?.();
    });
    const done = await Promise.race([stored, gaveUp]);
    clearTimeout(timer);
    if (done) return 0;
    this.waiters = this.waiters.filter((w) => w !== waiter);
    const left = this.unsettledUpTo(target);
    // One warning per outage (a runner flushes at every idle poll); later ones at debug.
    const log = this.warnedFlushThisOutage ? this.logger.debug.bind(this.logger) : this.logger.warn.bind(this.logger);
    this.warnedFlushThisOutage = true;
    log(
      `task_events: ${left} row(s) not written within ${timeoutMs} ms (${describe(this.lastError)}); they stay queued and are retried while this process runs, and are lost if it exits now`,
      { pending: this.pending, lastError: describe(this.lastError) },
    );
    return left;
  }

  /**
   * Flushes (waiting at most `timeoutMs`), then drops what the database still has not taken,
   * with a warning that says how many rows were lost. The recorder may be used again afterwards.
   * @returns the number of rows lost
   */
  async close(timeoutMs: number = this.flushTimeoutMs): Promise<number> {
    const left = await this.flush(timeoutMs);
    if (!left && !this.pending) return 0;
    const lost = this.pending;
    this.epoch++;
    this.queue = [];
    this.inFlight = [];
    this.stats.lostAtClose += lost;
    this.wakeBackoff?.();
    this.settle();
    if (lost) this.logger.warn(`task_events: ${lost} row(s) lost: the database did not take them within ${timeoutMs} ms of closing (${describe(this.lastError)})`, { lost });
    return lost;
  }

  private startDraining(): void {
    if (this.draining) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      // Rows recorded while the last write finished: write them at the next interval (at once
      // when a flush() is waiting for them).
      if (this.queue.length && this.waiters.length) this.startDraining();
      else if (this.queue.length && !this.timer) this.scheduleNext();
    });
  }

  private scheduleNext(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.startDraining();
    }, this.flushIntervalMs);
    this.timer.unref?.();
  }

  /** The write loop: one multi-row INSERT per batch of waiting rows, backing off while the database is away. */
  private async drain(): Promise<void> {
    while (this.queue.length) {
      const epoch = this.epoch;
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight = batch;
      const result = await this.writeRows(batch);
      if (epoch !== this.epoch) {
        this.inFlight = [];
        continue; // closed meanwhile: what it had is counted lost already
      }
      this.inFlight = [];
      if (result.retry.length) this.queue.unshift(...result.retry);
      this.enforceBound();
      this.settle();
      if (result.error === undefined) {
        this.failures = 0;
        this.warnedFlushThisOutage = false;
        if (this.droppedThisOutage && this.queue.length < this.maxBufferedRows / 2) {
          this.logger.warn(`task_events: the database takes rows again; ${this.droppedThisOutage} row(s) were dropped during the outage (over the ${this.maxBufferedRows}-row bound)`, {
            dropped: this.droppedThisOutage,
          });
          this.droppedThisOutage = 0;
        }
        continue;
      }
      this.failures++;
      this.lastError = result.error;
      this.stats.retries++;
      const waitMs = Math.min(this.retryMaxDelayMs, this.retryInitialDelayMs * 2 ** Math.min(this.failures - 1, 20));
      this.logger.debug(`task_events: writing ${result.retry.length} row(s) failed (${describe(result.error)}); retrying in ${waitMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, waitMs);
        t.unref?.();
        this.wakeBackoff = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wakeBackoff = undefined;
    }
  }

  /** Writes `rows` in one INSERT; a refusal splits them in halves until the refused row stands alone. */
  private async writeRows(rows: Queued[]): Promise<WriteResult> {
    try {
      await insertEvents(
        this.db,
        rows.map((q) => q.row),
      );
      this.stats.written += rows.length;
      this.lastSuccessAt = Date.now();
      return DONE;
    } catch (error) {
      const kind = isForeignKeyViolation(error, this.db.dialect) ? 'refused' : classifyWriteError(error, this.db.dialect);
      if (kind === 'transient') return { retry: rows, error };
      if (rows.length > 1) {
        const mid = Math.ceil(rows.length / 2);
        const first = await this.writeRows(rows.slice(0, mid));
        if (first.error !== undefined) return { retry: [...first.retry, ...rows.slice(mid)], error: first.error };
        return this.writeRows(rows.slice(mid));
      }
      const only = rows[0]!;
      if (kind === 'unknown') {
        // Neither passing nor refused by its code: a refusal only if the database keeps
        // storing other rows meanwhile (during an outage nothing is stored, nothing is dropped).
        if (only.failedAt === 0 || this.lastSuccessAt > only.failedAt) only.unclearFailures++;
        only.failedAt = Date.now();
        if (only.unclearFailures < UNCLEAR_FAILURES_TO_DROP) return { retry: rows, error };
      }
      this.stats.droppedRefused++;
      if (isForeignKeyViolation(error, this.db.dialect)) {
        this.logger.debug(`task_events: dropped a ${only.row.eventType} row of task ${only.row.taskId}: the task is gone (${describe(error)})`);
      } else this.onError(error);
      return DONE;
    }
  }

  /** Keeps at most `maxBufferedRows` rows: over it, drops the oldest waiting ones (2 % of the bound at once). */
  private enforceBound(): void {
    const over = this.queue.length + this.inFlight.length - this.maxBufferedRows;
    if (over <= 0) return;
    const drop = Math.min(this.queue.length, Math.max(over, Math.ceil(this.maxBufferedRows / 50)));
    this.queue.splice(0, drop);
    this.stats.droppedOverBound += drop;
    if (!this.droppedThisOutage) {
      this.logger.warn(
        `task_events: more than ${this.maxBufferedRows} rows wait for the database (${describe(this.lastError)}); dropping the oldest (counted; the total is logged when the database takes rows again)`,
        { maxBufferedRows: this.maxBufferedRows },
      );
    }
    this.droppedThisOutage += drop;
    this.settle();
  }

  /** Lowest sequence number still waiting, less one: every row up to it is stored or dropped. */
  private settle(): void {
    // inFlight is taken from the head of the queue: its rows are the oldest still waiting.
    const oldest = this.inFlight[0]?.seq ?? this.queue[0]?.seq;
    const next = oldest === undefined ? this.seq : oldest - 1;
    if (next <= this.settledSeq) return;
    this.settledSeq = next;
    const ready = this.waiters.filter((w) => w.seq <= next);
    if (!ready.length) return;
    this.waiters = this.waiters.filter((w) => w.seq > next);
    for (const w of ready) w.resolve();
  }

  private unsettledUpTo(seq: number): number {
    let n = 0;
    for (const q of this.inFlight) if (q.seq <= seq) n++;
    for (const q of this.queue) if (q.seq <= seq) n++;
    return n;
  }
}

function describe(error: unknown): string {
  if (error === undefined) return 'no error seen';
  const e = error as { code?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(error);
  return typeof e?.code === 'string' ? `${e.code}: ${message}` : message;
}

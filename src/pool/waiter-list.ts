import { performance } from 'node:perf_hooks';
import { UNSTAMPED, type Waiter, type WaiterOwner } from './waiter';

/**
 * The unanswered acquires in arrival order (first come, first served), with one timer
 * for all their deadlines and their abort listeners. Adding and removing are O(1); the
 * timer is armed for the earliest deadline only, so waiting costs no timer per request
 * and an acquire that never waits costs none at all.
 *
 * Nor does waiting cost a clock reading per request: a waiter queued without a start time
 * ({@link UNSTAMPED}) is stamped, with every other one queued since, by one reading at the
 * end of the event-loop turn (one `setImmediate` per turn that queued any), or by an earlier
 * reading of the list's (a deadline sweep). A stamp is never earlier than the acquire, so a
 * timeout never fires early; it counts from the end of the turn the acquire was queued in.
 * A waiter served within that turn is never stamped at all.
 */
export class WaiterList<T> implements WaiterOwner<T> {
  private head: Waiter<T> | undefined;
  private tail: Waiter<T> | undefined;
  /** Waiters in the list. */
  private count = 0;
  /** Of them, waiting to be served. */
  private queuedCount = 0;
  /** Of them, with a finite deadline. */
  private timed = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  /** The oldest waiter that may still be unstamped; every later one may be too, every earlier one is stamped. */
  private unstampedFrom: Waiter<T> | undefined;
  /** A stamp at the end of this turn is scheduled. */
  private stampScheduled = false;
  private readonly stampLater = (): void => {
    this.stampScheduled = false;
    if (this.unstampedFrom) this.armFor(this.stamp(performance.now()));
  };
  private readonly onTimer = (): void => this.expire();

  constructor(
    private readonly onExpired: (waiter: Waiter<T>) => void,
    private readonly onAborted: (waiter: Waiter<T>) => void,
  ) {}

  /** Waiters in the list. */
  get size(): number {
    return this.count;
  }

  /** Waiters queued to be served. */
  get queued(): number {
    return this.queuedCount;
  }

  /** The oldest waiter (walk on with `waiter.next`). */
  first(): Waiter<T> | undefined {
    return this.head;
  }

  /** Appends a waiter and arms its deadline and abort listener. */
  add(waiter: Waiter<T>): void {
    waiter.prev = this.tail;
    waiter.next = undefined;
    if (this.tail) this.tail.next = waiter;
    else this.head = waiter;
    this.tail = waiter;
    waiter.listed = true;
    this.count += 1;
    if (waiter.request.timeoutMs !== Infinity) {
      this.timed += 1;
      if (waiter.startedAt === UNSTAMPED) {
        this.unstampedFrom ??= waiter;
        if (!this.stampScheduled) {
          this.stampScheduled = true;
          setImmediate(this.stampLater);
        }
      } else if (waiter.deadline < this.timerAt) this.arm(waiter.deadline);
    } else if (waiter.startedAt === UNSTAMPED) this.unstampedFrom ??= waiter;
    waiter.request.signal?.addEventListener('abort', waiter, { once: true });
  }

  /** Takes a waiter out (served, rejected, expired or aborted). */
  remove(waiter: Waiter<T>): void {
    if (!waiter.listed) return;
    this.setQueued(waiter, false);
    if (waiter === this.unstampedFrom) this.unstampedFrom = waiter.next;
    if (waiter.prev) waiter.prev.next = waiter.next;
    else this.head = waiter.next;
    if (waiter.next) waiter.next.prev = waiter.prev;
    else this.tail = waiter.prev;
    waiter.prev = undefined;
    waiter.next = undefined;
    waiter.listed = false;
    this.count -= 1;
    waiter.request.signal?.removeEventListener('abort', waiter);
    if (waiter.request.timeoutMs !== Infinity) {
      this.timed -= 1;
      // Nothing else has a deadline: do not keep the process alive for this one's.
      if (this.timed === 0) this.disarm();
    }
  }

  /** Marks a listed waiter as waiting to be served, or not (starting up, being validated for). */
  setQueued(waiter: Waiter<T>, queued: boolean): void {
    if (waiter.queued === queued || !waiter.listed) return;
    waiter.queued = queued;
    this.queuedCount += queued ? 1 : -1;
  }

  /**
   * The hand-over hot path of a pool with one device: the oldest queued waiter, taken out of
   * the queue, when a released instance of `device` may go straight to it (its request is
   * for any device or this one, and reserves no memory); undefined when placement must decide.
   */
  takeFor(device: string): Waiter<T> | undefined {
    let waiter = this.head;
    while (waiter && !waiter.queued) waiter = waiter.next;
    if (!waiter || waiter.settled) return undefined;
    const { request } = waiter;
    if (request.memoryMb !== 0 || (request.device !== 'auto' && request.device !== device)) return undefined;
    this.setQueued(waiter, false);
    return waiter;
  }

  /** Every listed waiter, oldest first (a copy: callers may remove while they go). */
  all(): Waiter<T>[] {
    const result: Waiter<T>[] = [];
    for (let waiter = this.head; waiter; waiter = waiter.next) result.push(waiter);
    return result;
  }

  /** Queued waiters per device they wait for (stats). */
  waitingByTarget(): Map<string, number> {
    const counts = new Map<string, number>();
    for (let waiter = this.head; waiter; waiter = waiter.next) {
      if (waiter.queued && waiter.target) counts.set(waiter.target, (counts.get(waiter.target) ?? 0) + 1);
    }
    return counts;
  }

  /** @internal A waiter's signal aborted. */
  aborted(waiter: Waiter<T>): void {
    this.onAborted(waiter);
  }

  /**
   * Stamps every unstamped waiter with `time` (a reading taken after they were queued) and
   * answers the earliest deadline among them (Infinity for none).
   */
  private stamp(time: number): number {
    let earliest = Infinity;
    for (let waiter = this.unstampedFrom; waiter; waiter = waiter.next) {
      if (waiter.startedAt !== UNSTAMPED) continue; // stamped at once (someone wanted waitedMs)
      waiter.startedAt = time;
      const timeoutMs = waiter.request.timeoutMs;
      if (timeoutMs !== Infinity) {
        waiter.deadline = time + timeoutMs;
        if (waiter.deadline < earliest) earliest = waiter.deadline;
      }
    }
    this.unstampedFrom = undefined;
    return earliest;
  }

  private armFor(deadline: number): void {
    if (deadline < this.timerAt) this.arm(deadline);
  }

  private arm(at: number): void {
    clearTimeout(this.timer);
    this.timerAt = at;
    // Not unref'd: someone awaits these acquires, so the process must live to settle them.
    this.timer = setTimeout(this.onTimer, Math.max(0, at - performance.now()));
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  /** Rejects every waiter past its deadline and re-arms for the next one. */
  private expire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = performance.now();
    if (this.unstampedFrom) this.stamp(now);
    const expired: Waiter<T>[] = [];
    let next = Infinity;
    for (let waiter = this.head; waiter; waiter = waiter.next) {
      if (waiter.deadline <= now) expired.push(waiter);
      else if (waiter.deadline < next) next = waiter.deadline;
    }
    if (next !== Infinity) this.arm(next);
    for (const waiter of expired) if (!waiter.settled) this.onExpired(waiter);
  }
}

/**
 * The runner's local lease clock: for every task it holds, when its lease runs out as far as
 * this process knows (claimed-at + leaseMs, moved on by each heartbeat that renewed it). A
 * process frozen past that time (SIGSTOP, a blocked event loop) no longer holds its tasks,
 * whatever its memory says: another runner may have rescued them.
 */
export class LeaseClock {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly leaseMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** A claim (or a renewal) sent at `sentAt` (epoch ms) was granted. */
  renew(id: string, sentAt: number): void {
    this.until.set(id, sentAt + this.leaseMs);
  }

  /** The task's lease, as stored, runs out at `until` (epoch ms). */
  holdUntil(id: string, until: number): void {
    this.until.set(id, until);
  }

  /** True when the task is on the clock (held, as far as this process knows). */
  has(id: string): boolean {
    return this.until.has(id);
  }

  /** True while the task's lease has time left locally. Unknown tasks have none. */
  valid(id: string): boolean {
    const until = this.until.get(id);
    return until !== undefined && this.clock() < until;
  }

  /** The task is no longer held (written, handed back, dropped). */
  forget(id: string): void {
    this.until.delete(id);
    this.released?.add(id);
  }

  /** Ids forgotten since {@link LeaseClock.watchReleases} began, while a read of held rows is on its way. */
  private released: Set<string> | undefined;

  /**
   * Starts noting the tasks this process lets go of, until the returned function is called;
   * it returns them. A read of "rows this runner holds" taken meanwhile may still show them
   * WORKING (their completion committed after the read): they are not unknown claims.
   */
  watchReleases(): () => Set<string> {
    const released = (this.released = new Set());
    return () => {
      if (this.released === released) this.released = undefined;
      return released;
    };
  }

  /** Tasks on the clock. */
  get size(): number {
    return this.until.size;
  }
}

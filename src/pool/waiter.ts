import type { ResolvedAcquire } from './pool-options';
import type { ServiceLease } from './types';

/** A waiter's `startedAt` before the clock was read for it (performance.now() is never negative). */
export const UNSTAMPED = -1;

/** What a waiter reports to the list that holds it. */
export interface WaiterOwner<T> {
  aborted(waiter: Waiter<T>): void;
}

/** Holder of a captured stack; V8 formats it only when `stack` is read. */
export interface StackHolder {
  stack?: string;
}

/**
 * One acquire that could not be answered at once (tarn.js's PendingOperation): its
 * promise, its deadline, its place in the queue, and its abort listener (the waiter
 * itself, through `handleEvent`, so waiting allocates no closure).
 */
export class Waiter<T> {
  /** Neighbours in the {@link WaiterList} (arrival order). */
  prev: Waiter<T> | undefined = undefined;
  next: Waiter<T> | undefined = undefined;
  /** In the list at all (queued, starting up, or being validated for). */
  listed = false;
  /** Waiting to be served (as opposed to starting up or being validated for). */
  queued = false;
  /** Answered (lent, rejected, timed out or aborted); never answered twice. */
  settled = false;
  /** The device the request is waiting for, for stats and error messages. */
  target: string | undefined;
  /**
   * performance.now() when the wait began, {@link UNSTAMPED} until the {@link WaiterList}
   * stamps it (at the end of the event-loop turn it was queued in, or on the first clock
   * reading before that); taken at once when someone needs `waitedMs`.
   */
  startedAt: number;
  /** performance.now() past which the acquire fails; Infinity for none, and until stamped. */
  deadline = Infinity;
  /** What the acquire returned. */
  readonly promise: Promise<ServiceLease<T>>;
  readonly resolve: (lease: ServiceLease<T>) => void;
  readonly reject: (error: unknown) => void;

  constructor(
    private readonly owner: WaiterOwner<T>,
    readonly request: ResolvedAcquire,
    startedAt: number,
    /** Where the acquire was called (leak detection). */
    readonly acquireSite: StackHolder | undefined,
  ) {
    this.promise = new Promise<ServiceLease<T>>(capture);
    this.resolve = captured.resolve!;
    this.reject = captured.reject!;
    this.target = request.device === 'auto' ? undefined : request.device;
    this.startedAt = startedAt;
    if (startedAt !== UNSTAMPED && request.timeoutMs !== Infinity) this.deadline = startedAt + request.timeoutMs;
  }

  /** The abort listener (an EventListener object). */
  handleEvent(): void {
    if (!this.settled) this.owner.aborted(this);
  }
}

/** Where the shared promise executor leaves its resolvers (no closure per waiter). */
const captured: { resolve: ((lease: ServiceLease<any>) => void) | undefined; reject: ((error: unknown) => void) | undefined } = {
  resolve: undefined,
  reject: undefined,
};

function capture(resolve: (lease: ServiceLease<any>) => void, reject: (error: unknown) => void): void {
  captured.resolve = resolve;
  captured.reject = reject;
}

/** Captures the stack above `below` (the public acquire); reading `stack` later formats it, capturing alone is cheap. */
export function captureSite(below: Function): StackHolder {
  const holder: StackHolder = {};
  Error.captureStackTrace(holder, below);
  return holder;
}

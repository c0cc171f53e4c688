import { performance } from 'node:perf_hooks';
import type { PoolSlot } from './pooled-instance';

/**
 * The create back-off of one device: after each failed create the device waits, doubling
 * per consecutive failure up to a cap, before placement may create there again. The
 * timer is not unref'd: waiters may depend on the retry (it is bounded and cleared on drain).
 */

/** A create succeeded (or a drain began): the device is no longer failing. */
export function forgetFailures(slot: PoolSlot<unknown>): void {
  slot.consecutiveFailures = 0;
  slot.lastCreateError = undefined;
  clearBackoff(slot);
}

/** A create failed: counts it and schedules `onRetryDue` after the delay, which it returns. */
export function noteCreateFailure(slot: PoolSlot<unknown>, error: unknown, baseDelayMs: number, maxDelayMs: number, onRetryDue: () => void): number {
  slot.consecutiveFailures += 1;
  slot.lastCreateError = error;
  const delay = Math.min(baseDelayMs * 2 ** (slot.consecutiveFailures - 1), Math.max(baseDelayMs, maxDelayMs));
  slot.retryAt = performance.now() + delay;
  clearTimeout(slot.retryTimer);
  slot.retryTimer = setTimeout(() => {
    slot.retryTimer = undefined;
    slot.retryAt = 0;
    onRetryDue();
  }, delay);
  return delay;
}

/** Ends the back-off early. */
export function clearBackoff(slot: PoolSlot<unknown>): void {
  clearTimeout(slot.retryTimer);
  slot.retryTimer = undefined;
  slot.retryAt = 0;
}

/**
 * The time placement needs: performance.now() when some device is in its back-off, else 0
 * (no comparison with `retryAt` can then change), so that the hot path reads no clock.
 */
export function backoffClock(slots: readonly PoolSlot<unknown>[]): number {
  for (const slot of slots) if (slot.retryAt !== 0) return performance.now();
  return 0;
}

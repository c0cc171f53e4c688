import type { RetrySettings } from '../core/settings';
import type { ProcessorOptions } from '../processor/processor-metadata';

/**
 * Delay before retry number `attempt` (1 = after the first failure): exponential with
 * the multiplier, capped, then spread by ±jitter so a burst of failures does not retry
 * in lockstep. `random` is injectable for tests.
 */
export function retryDelayMs(
  attempt: number,
  retry: Pick<RetrySettings, 'initialDelayMs' | 'backoffMultiplier' | 'maxDelayMs' | 'jitter'>,
  override: ProcessorOptions['backoff'] = {},
  random: () => number = Math.random,
): number {
  const initial = override.initialDelayMs ?? retry.initialDelayMs;
  const multiplier = override.multiplier ?? retry.backoffMultiplier;
  const max = override.maxDelayMs ?? retry.maxDelayMs;
  if (initial === 0) return 0;
  const base = Math.min(max, initial * multiplier ** Math.max(0, attempt - 1));
  const spread = base * retry.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(Math.min(max, base + spread)));
}

/** A factory call that took longer than its timeout. */
export class FactoryTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`factory.${what} did not settle within ${ms} ms`);
    this.name = 'FactoryTimeoutError';
  }
}

/**
 * Races a factory call against its timeout (tarn.js's create/destroy timeouts): a call that
 * hangs must not hold a slot, memory, or drain()/close() for ever. `onTimeout` runs once
 * when the timer wins.
 */
export function bounded<R>(work: Promise<R>, ms: number, what: string, onTimeout?: () => void): Promise<R> {
  return withTimeout(work, ms, () => {
    onTimeout?.();
    return new FactoryTimeoutError(what, ms);
  });
}

/**
 * `work`, or a rejection with `timeoutError()` when `ms` passes first (the timer is cleared
 * either way). An infinite `ms` returns `work` itself.
 */
export function withTimeout<R>(work: Promise<R>, ms: number, timeoutError: () => unknown): Promise<R> {
  if (!Number.isFinite(ms)) return work;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError()), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

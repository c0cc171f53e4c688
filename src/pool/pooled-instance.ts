import type { DeviceSlot } from './device-slot';
import type { PoolLease } from './pool-lease';

/** A device slot as the pool keeps it: with its instances and its create back-off timer. */
export interface PoolSlot<T> extends DeviceSlot<PooledInstance<T>> {
  readonly instances: Set<PooledInstance<T>>;
  retryTimer: NodeJS.Timeout | undefined;
}

/** One pooled service (tarn.js's Resource) and where it stands. */
export class PooledInstance<T> {
  state: 'idle' | 'validating' | 'in-use' | 'destroyed' = 'idle';
  /** Created and not lent yet: lent without validation (an always-invalid validate cannot loop). */
  fresh = true;
  /** performance.now() when it last went idle (only kept up when idle eviction is on). */
  lastUsedAt: number;
  /** Memory reserved by the lease being validated for or holding this instance. */
  leaseMb = 0;
  lease: PoolLease<T> | undefined = undefined;

  constructor(
    readonly id: string,
    readonly service: T,
    readonly slot: PoolSlot<T>,
    createdAt: number,
  ) {
    this.lastUsedAt = createdAt;
  }
}

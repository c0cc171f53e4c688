import { isUsable } from './device-slot';
import type { PooledInstance, PoolSlot } from './pooled-instance';

/** An idle instance due for eviction. */
export interface Eviction<T> {
  instance: PooledInstance<T>;
  idleMs: number;
}

/**
 * The idle instances to evict now: idle at least `idleTimeoutMs`, least recently used
 * first, never taking a device below its minimum (leased instances count towards it).
 */
export function dueForEviction<T>(slots: readonly PoolSlot<T>[], idleTimeoutMs: number, now: number): Eviction<T>[] {
  const due: Eviction<T>[] = [];
  for (const slot of slots) {
    let spare = slot.instances.size - (isUsable(slot) ? slot.min : 0);
    for (const instance of slot.idle) {
      if (spare <= 0) break;
      const idleMs = now - instance.lastUsedAt;
      if (idleMs < idleTimeoutMs) continue;
      spare -= 1;
      due.push({ instance, idleMs });
    }
  }
  return due;
}

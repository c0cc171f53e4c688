import type { DeviceInfo } from './device';

/**
 * The pool's book-keeping for one device, and the arithmetic on it. Generic over the
 * instance type so that placement (a pure function of slots) can be tested with plain
 * objects.
 */
export interface DeviceSlot<I> {
  info: DeviceInfo;
  /** Position in probe order (ties in the ranking go to the earlier device). */
  readonly order: number;
  readonly instanceMb: number;
  readonly min: number;
  readonly max: number;
  readonly budgetMb: number;
  readonly enabled: boolean;
  /** Idle, validating and in-use instances (not those being destroyed). */
  readonly instances: { readonly size: number };
  /** Idle instances, least recently used first (lent from the end). */
  readonly idle: I[];
  /** Instances lent or being validated for a lease. */
  inUse: number;
  /** Memory reserved by leases and by instances being validated for a request. */
  leaseMb: number;
  pendingCreates: number;
  destroyingMb: number;
  /** Instance memory the pool held when `info` was probed (already missing from its free memory). */
  baselineMb: number;
  consecutiveFailures: number;
  lastCreateError: unknown;
  /** No create on this device before this time (performance.now()). */
  retryAt: number;
}

/**
 * Memory and pending creates promised to earlier waiters during one dispatch pass, so
 * that later waiters in the same pass do not count on them too.
 */
export interface Claims<I> {
  mb(slot: DeviceSlot<I>): number;
  pending(slot: DeviceSlot<I>): number;
}

/** No claims: a request placed on its own (the fast path, fail-fast checks). */
export const NO_CLAIMS: Claims<never> = Object.freeze({ mb: () => 0, pending: () => 0 });

/** Claims of one dispatch pass; allocates nothing until the first claim. */
export class PassClaims<I> implements Claims<I> {
  private bySlot: Map<DeviceSlot<I>, { mb: number; pending: number }> | undefined;

  mb(slot: DeviceSlot<I>): number {
    return this.bySlot?.get(slot)?.mb ?? 0;
  }

  pending(slot: DeviceSlot<I>): number {
    return this.bySlot?.get(slot)?.pending ?? 0;
  }

  /** Forgets every claim (a new pass). */
  reset(): void {
    this.bySlot?.clear();
  }

  add(slot: DeviceSlot<I>, mb: number): void {
    this.bySlot ??= new Map();
    const claim = this.bySlot.get(slot);
    if (claim) {
      claim.mb += mb;
      claim.pending += 1;
    } else {
      this.bySlot.set(slot, { mb, pending: 1 });
    }
  }
}

/** The pool may place work on the device. */
export function isUsable(slot: DeviceSlot<unknown>): boolean {
  return slot.info.healthy && slot.enabled && slot.max > 0;
}

/** Memory held by instances (existing, being created, being destroyed). */
export function instanceMemory(slot: DeviceSlot<unknown>): number {
  return (slot.instances.size + slot.pendingCreates) * slot.instanceMb + slot.destroyingMb;
}

/** Memory the pool reserves on the device: instances plus leases. */
export function reservedMemory(slot: DeviceSlot<unknown>): number {
  return instanceMemory(slot) + slot.leaseMb;
}

/** Free memory at the probe, corrected for what the pool reserved since. */
export function availableMemory(slot: DeviceSlot<unknown>): number {
  return slot.info.freeMemoryMb + slot.baselineMb - instanceMemory(slot) - slot.leaseMb;
}

/** `neededMb` more fits in the device's free memory and in its budget. */
export function hasRoom<I>(slot: DeviceSlot<I>, neededMb: number, claims: Claims<I>): boolean {
  if (neededMb === 0) return true;
  const claimed = claims.mb(slot);
  return availableMemory(slot) - claimed >= neededMb && slot.budgetMb - reservedMemory(slot) - claimed >= neededMb;
}

/** The request could not fit even with nothing else of the pool's on the device. */
export function neverFits(slot: DeviceSlot<unknown>, memoryMb: number): boolean {
  const needed = memoryMb + slot.instanceMb;
  return needed > 0 && (needed > slot.info.freeMemoryMb + slot.baselineMb || needed > slot.budgetMb);
}

/** A new instance for a request of `memoryMb` may be created now. */
export function canCreate<I>(slot: DeviceSlot<I>, memoryMb: number, claims: Claims<I>, now: number): boolean {
  if (slot.instances.size + slot.pendingCreates >= slot.max) return false;
  if (now < slot.retryAt) return false;
  // After a failure, probe with one create at a time rather than hammer the device.
  if (slot.consecutiveFailures > 0 && slot.pendingCreates > 0) return false;
  return hasRoom(slot, memoryMb + slot.instanceMb, claims);
}

/** Creates keep failing and the device is still in its back-off. */
export function isBroken(slot: DeviceSlot<unknown>, maxCreateFailures: number, now: number): boolean {
  return slot.consecutiveFailures >= maxCreateFailures && now < slot.retryAt;
}

/** `inUse / max`, 0 when `max` is 0. */
export function utilizationOf(slot: DeviceSlot<unknown>): number {
  return slot.max > 0 ? slot.inUse / slot.max : 0;
}

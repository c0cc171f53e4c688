import { DeviceUnavailableError, InvalidArgumentError, PoolClosedError, PoolExhaustedError } from '../core/errors';
import type { DeviceSlot } from './device-slot';

/** The messages of the pool's errors, in one place so that they read alike. */

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

export function closedError(pool: string, why: 'closed' | 'closing' | 'draining'): PoolClosedError {
  return new PoolClosedError(`ServicePool "${pool}" is ${why}`);
}

export function unavailableError(pool: string, id: string, slot: DeviceSlot<unknown> | undefined, known: readonly DeviceSlot<unknown>[]): DeviceUnavailableError {
  let why: string;
  if (!slot) why = `unknown (known: ${known.map((s) => s.info.id).join(', ') || 'none'})`;
  else if (!slot.info.healthy) why = 'unhealthy';
  else if (!slot.enabled) why = 'disabled in perDevice';
  else why = 'not used by this pool (max 0)';
  return new DeviceUnavailableError(`ServicePool "${pool}": device "${id}" is ${why}`);
}

export function noDeviceError(pool: string, hasGpu: boolean): DeviceUnavailableError {
  const why = hasGpu ? 'no healthy GPU and cpuFallback is off' : 'no healthy, enabled device';
  return new DeviceUnavailableError(`ServicePool "${pool}": ${why}`);
}

export function tooLargeError(pool: string, memoryMb: number, slots: readonly DeviceSlot<unknown>[]): PoolExhaustedError {
  const limits = slots
    .map((slot) => `${slot.info.id}: ${Math.min(slot.info.freeMemoryMb + slot.baselineMb, slot.budgetMb)} MB, ${slot.instanceMb} MB per instance`)
    .join('; ');
  return new PoolExhaustedError(`ServicePool "${pool}": no device can ever provide ${memoryMb} MB (${limits})`);
}

export function createFailingError(pool: string, slots: readonly DeviceSlot<unknown>[]): PoolExhaustedError {
  const first = slots[0]!;
  return new PoolExhaustedError(
    `ServicePool "${pool}": creating a service failed ${first.consecutiveFailures} times in a row on ` +
      `${slots.map((slot) => slot.info.id).join(', ')} (last error: ${messageOf(first.lastCreateError)})`,
    { cause: first.lastCreateError },
  );
}

export function notACandidateError(pool: string, chosen: unknown, ranked: readonly DeviceSlot<unknown>[]): InvalidArgumentError {
  const ids = ranked.map((candidate) => candidate.info.id).join(', ');
  return new InvalidArgumentError(`ServicePool "${pool}": selector chose "${String(chosen)}", which is not a candidate (${ids})`);
}

/** What a request that waited too long is told: where it waited, what the device was doing, the last create error. */
export function acquireTimeoutError(
  pool: string,
  request: { device: string; timeoutMs: number },
  target: DeviceSlot<unknown> | undefined,
  slots: readonly DeviceSlot<unknown>[],
  waiting: number,
): PoolExhaustedError {
  const failing = target?.lastCreateError !== undefined ? target : slots.find((s) => s.lastCreateError !== undefined);
  const where = request.device === 'auto' ? `'auto'${target ? ` (waiting for ${target.info.id})` : ''}` : `"${request.device}"`;
  const state = target ? `; ${target.inUse}/${target.max} in use, ${target.pendingCreates} being created` : '';
  const cause = failing?.lastCreateError;
  return new PoolExhaustedError(
    `ServicePool "${pool}": no service became available on ${where} within ${request.timeoutMs} ms` +
      `${state}; ${waiting} waiting${cause !== undefined ? `; last create error: ${messageOf(cause)}` : ''}`,
    cause !== undefined ? { cause } : undefined,
  );
}

/** One lease still out when a drain or close timed out. */
export interface LeaseOut {
  instanceId: string;
  device: string;
  /** How long it has been held, when the pool was timing it. */
  heldMs: number | undefined;
  /** The first frame of the acquire's stack, when leak detection recorded it. */
  acquiredAt: string | undefined;
}

/** The leases out on these slots (and how many instances are being validated), for {@link leasesOutError}. */
export function leasesOutOf(
  slots: readonly { readonly instances: Iterable<{ readonly state: string; readonly lease?: LeaseView | undefined }> }[],
  now: number,
): { leases: LeaseOut[]; validating: number } {
  const leases: LeaseOut[] = [];
  let validating = 0;
  for (const slot of slots) {
    for (const instance of slot.instances) {
      if (instance.state === 'validating') validating += 1;
      const lease = instance.lease;
      if (!lease) continue;
      leases.push({
        instanceId: lease.instanceId,
        device: lease.device,
        heldMs: lease.acquiredAt > 0 ? now - lease.acquiredAt : undefined,
        acquiredAt: lease.acquireSite?.stack?.split('\n')[1]?.trim(),
      });
    }
  }
  return { leases, validating };
}

/** What {@link leasesOutOf} reads of a lease. */
interface LeaseView {
  readonly instanceId: string;
  readonly device: string;
  readonly acquiredAt: number;
  readonly acquireSite: { readonly stack?: string } | undefined;
}

/** What a drain or close that timed out is told: every lease still out, and what else is in flight. */
export function leasesOutError(
  pool: string,
  what: 'close()' | 'drain()',
  timeoutMs: number,
  leases: readonly LeaseOut[],
  other: { validating: number; creating: number; recordingSites: boolean },
): PoolClosedError {
  const described = leases.map((lease) => {
    const held = lease.heldMs === undefined ? 'held since before the pool began timing leases' : `held ${Math.round(lease.heldMs)} ms`;
    return `${lease.instanceId} on ${lease.device} (${held}${lease.acquiredAt ? `, acquired ${lease.acquiredAt}` : ''})`;
  });
  const count = leases.length === 1 ? '1 lease is' : `${leases.length} leases are`;
  const validating = other.validating > 0 ? `; ${other.validating} instance(s) being validated` : '';
  const creating = other.creating > 0 ? `; ${other.creating} create(s) in flight` : '';
  const hint = !other.recordingSites && leases.length > 0 ? ' (set leaseTimeoutMs to record where leases are acquired)' : '';
  return new PoolClosedError(
    `ServicePool "${pool}": ${what} timed out after ${timeoutMs} ms; ${count} still out: ${described.join('; ') || 'none'}` +
      `${validating}${creating}${hint}. The pool stays closed to new acquires and destroys those instances when their leases end.`,
  );
}

import {
  availableMemory,
  canCreate,
  hasRoom,
  isBroken,
  isUsable,
  neverFits,
  reservedMemory,
  type Claims,
  type DeviceSlot,
} from './device-slot';
import { createFailingError, noDeviceError, notACandidateError, tooLargeError, unavailableError } from './pool-errors';
import type { AcquireOptions, DeviceCandidate, DeviceSelector } from './types';

/**
 * Where a request goes: a pure function of the request, the device slots, the claims of
 * the current dispatch pass and the time. No timers, no state, nothing changed; the pool
 * acts on the answer.
 *
 * The common case (an idle instance on the best device) allocates nothing but the answer:
 * devices are ranked by linear scans rather than sorted copies.
 */

/** What placement needs of a request. */
export interface PlacementRequest {
  /** `'auto'` or a device id. */
  readonly device: string;
  readonly memoryMb: number;
  /** As the caller passed them (handed to a selector). */
  readonly original: AcquireOptions;
}

/** The pool's rules that placement follows. */
export interface PlacementRules {
  readonly poolName: string;
  readonly cpuFallback: boolean;
  readonly maxCreateFailures: number;
  readonly selector: DeviceSelector | undefined;
}

/** The answer: lend an idle instance, wait for one being created, create one, wait, or fail now. */
export type Placement<I> =
  | { readonly kind: 'idle'; readonly slot: DeviceSlot<I>; readonly instance: I }
  | { readonly kind: 'pending'; readonly slot: DeviceSlot<I> }
  | { readonly kind: 'create'; readonly slot: DeviceSlot<I> }
  | { readonly kind: 'wait'; readonly slot: DeviceSlot<I> | undefined }
  | { readonly kind: 'fail'; readonly error: unknown };

/** Places a request. A selector that throws makes it a `fail` with that error. */
export function place<I>(
  request: PlacementRequest,
  slots: readonly DeviceSlot<I>[],
  claims: Claims<I>,
  rules: PlacementRules,
  now: number,
): Placement<I> {
  try {
    return request.device === 'auto' ? placeAuto(request, slots, claims, rules, now) : placeOn(request, slots, claims, rules, now);
  } catch (error) {
    return { kind: 'fail', error };
  }
}

/**
 * The answer {@link place} gives, found without its pass, in the common case of a pool with
 * one usable device whose every instance is lent (none idle, none being created, none more
 * allowed) and a request for any device or that one reserving no memory: wait for that device.
 * Undefined in every other case (then `place` decides).
 */
export function onlyWaits<I>(request: PlacementRequest, slots: readonly DeviceSlot<I>[], rules: PlacementRules): Placement<I> | undefined {
  const slot = waitsOn(request, slots, rules);
  return slot && { kind: 'wait', slot };
}

/** The device {@link onlyWaits} would wait for, without building the answer (the enqueue hot path). */
export function waitsOn<I>(request: PlacementRequest, slots: readonly DeviceSlot<I>[], rules: PlacementRules): DeviceSlot<I> | undefined {
  if (slots.length !== 1 || rules.selector || request.memoryMb !== 0) return undefined;
  const slot = slots[0]!;
  if (request.device !== 'auto' && request.device !== slot.info.id) return undefined;
  if (!isUsable(slot) || slot.idle.length > 0 || slot.pendingCreates > 0 || slot.instances.size === 0 || slot.instances.size < slot.max) return undefined;
  return slot;
}

/**
 * Something could be lent or created for some request (memory aside). When nothing can,
 * the rest of a queue can only wait: a dispatch pass stops there, which keeps a release
 * O(1) however many wait.
 */
export function hasSupply<I>(slots: readonly DeviceSlot<I>[], claims: Claims<I>, now: number): boolean {
  for (const slot of slots) {
    if (!isUsable(slot)) continue;
    if (slot.idle.length > 0 || slot.pendingCreates > claims.pending(slot)) return true;
    if (slot.instances.size + slot.pendingCreates < slot.max && now >= slot.retryAt) return true;
  }
  return false;
}

/** Whether `a` ranks before `b`: more available memory, then less load, then probe order. */
export function ranksBefore<I>(a: DeviceSlot<I>, b: DeviceSlot<I>, claims: Claims<I>): boolean {
  const availableA = availableMemory(a) - claims.mb(a);
  const availableB = availableMemory(b) - claims.mb(b);
  if (availableA !== availableB) return availableA > availableB;
  const loadA = loadOf(a);
  const loadB = loadOf(b);
  if (loadA !== loadB) return loadA < loadB;
  return a.order < b.order;
}

/** The slots in ranking order (a sorted copy). */
export function rank<I>(slots: readonly DeviceSlot<I>[], claims: Claims<I>): DeviceSlot<I>[] {
  return [...slots].sort((a, b) => (ranksBefore(a, b, claims) ? -1 : ranksBefore(b, a, claims) ? 1 : 0));
}

/** A device as a selector sees it, for one request. */
export function candidateOf<I>(slot: DeviceSlot<I>, memoryMb: number, claims: Claims<I>, now: number): DeviceCandidate {
  return {
    device: slot.info,
    size: slot.instances.size,
    inUse: slot.inUse,
    idle: slot.idle.length,
    pendingCreates: slot.pendingCreates,
    min: slot.min,
    max: slot.max,
    reservedMemoryMb: reservedMemory(slot) + claims.mb(slot),
    availableMemoryMb: availableMemory(slot) - claims.mb(slot),
    load: slot.max > 0 ? slot.inUse / slot.max : 1,
    fits: hasRoom(slot, memoryMb, claims),
    ready: serveOn(slot, memoryMb, claims, now) !== undefined,
  };
}

// ------------------------------------------------------------------ explicit device

function placeOn<I>(request: PlacementRequest, slots: readonly DeviceSlot<I>[], claims: Claims<I>, rules: PlacementRules, now: number): Placement<I> {
  const { device, memoryMb } = request;
  let slot: DeviceSlot<I> | undefined;
  for (const candidate of slots) if (candidate.info.id === device) slot = candidate;
  if (!slot || !isUsable(slot)) return { kind: 'fail', error: unavailableError(rules.poolName, device, slot, slots) };
  if (neverFits(slot, memoryMb)) return { kind: 'fail', error: tooLargeError(rules.poolName, memoryMb, [slot]) };
  return serveOn(slot, memoryMb, claims, now) ?? waitOrFail([slot], rules, now);
}

/** The best way to serve the request on one device: an idle instance, one being created, a new one. */
function serveOn<I>(slot: DeviceSlot<I>, memoryMb: number, claims: Claims<I>, now: number): Placement<I> | undefined {
  if (slot.idle.length > 0 && hasRoom(slot, memoryMb, claims)) return { kind: 'idle', slot, instance: slot.idle[slot.idle.length - 1]! };
  if (slot.pendingCreates > claims.pending(slot) && hasRoom(slot, memoryMb, claims)) return { kind: 'pending', slot };
  if (canCreate(slot, memoryMb, claims, now)) return { kind: 'create', slot };
  return undefined;
}

/** Waits, unless every device is failing to create and has nothing that could come back. */
function waitOrFail<I>(slots: readonly DeviceSlot<I>[], rules: PlacementRules, now: number): Placement<I> {
  const broken = (slot: DeviceSlot<I>) => isBroken(slot, rules.maxCreateFailures, now);
  const hopeless = slots.length > 0 && slots.every((slot) => broken(slot) && slot.instances.size === 0 && slot.pendingCreates === 0);
  if (!hopeless) return { kind: 'wait', slot: slots.find((slot) => !broken(slot)) ?? slots[0] };
  return { kind: 'fail', error: createFailingError(rules.poolName, slots) };
}

// ------------------------------------------------------------------ 'auto'

/** What a slot is to an `'auto'` request. */
type Role = 0 | 1 | 2 | 3;
/** Unusable, or the CPU where it is not allowed. */
const EXCLUDED: Role = 0;
/** Allowed, but could never hold the request. */
const TOO_SMALL: Role = 1;
/** A GPU (or, without GPUs, any device). */
const PRIMARY: Role = 2;
/** The CPU as a fallback on a machine with GPUs. */
const FALLBACK: Role = 3;

function placeAuto<I>(request: PlacementRequest, slots: readonly DeviceSlot<I>[], claims: Claims<I>, rules: PlacementRules, now: number): Placement<I> {
  const memoryMb = request.memoryMb;
  let hasGpu = false;
  for (const slot of slots) if (slot.info.kind === 'cuda' && slot.enabled && slot.max > 0) hasGpu = true;
  const cpuAllowed = !hasGpu || rules.cpuFallback;
  // One pass: the best-ranked slot of each kind the answer may need.
  let allowed = 0;
  let eligible = 0;
  let fallbacks = 0;
  let fitting: DeviceSlot<I> | undefined; // a primary with room now whose factory is not failing (or that has an idle instance)
  let fittingIdle: DeviceSlot<I> | undefined;
  let fittingPending: DeviceSlot<I> | undefined;
  let fittingCreate: DeviceSlot<I> | undefined;
  let fallbackIdle: DeviceSlot<I> | undefined;
  let fallbackPending: DeviceSlot<I> | undefined;
  let fallbackCreate: DeviceSlot<I> | undefined;
  for (const slot of slots) {
    const role = roleOf(slot, memoryMb, hasGpu, cpuAllowed);
    if (role === EXCLUDED) continue;
    allowed += 1;
    if (role === TOO_SMALL) continue;
    eligible += 1;
    const room = hasRoom(slot, memoryMb, claims);
    const idle = slot.idle.length > 0;
    const pending = slot.pendingCreates > claims.pending(slot);
    if (role === PRIMARY) {
      if (!room || (!idle && isBroken(slot, rules.maxCreateFailures, now))) continue;
      if (!fitting || ranksBefore(slot, fitting, claims)) fitting = slot;
      if (idle && (!fittingIdle || ranksBefore(slot, fittingIdle, claims))) fittingIdle = slot;
      if (pending && (!fittingPending || ranksBefore(slot, fittingPending, claims))) fittingPending = slot;
      if (canCreate(slot, memoryMb, claims, now) && (!fittingCreate || ranksBefore(slot, fittingCreate, claims))) fittingCreate = slot;
    } else {
      fallbacks += 1;
      if (room && idle && (!fallbackIdle || ranksBefore(slot, fallbackIdle, claims))) fallbackIdle = slot;
      if (room && pending && (!fallbackPending || ranksBefore(slot, fallbackPending, claims))) fallbackPending = slot;
      if (canCreate(slot, memoryMb, claims, now) && (!fallbackCreate || ranksBefore(slot, fallbackCreate, claims))) fallbackCreate = slot;
    }
  }
  if (allowed === 0) return { kind: 'fail', error: noDeviceError(rules.poolName, hasGpu) };
  if (eligible === 0) {
    const allowedSlots = slots.filter((slot) => roleOf(slot, memoryMb, hasGpu, cpuAllowed) !== EXCLUDED);
    return { kind: 'fail', error: tooLargeError(rules.poolName, memoryMb, allowedSlots) };
  }

  if (rules.selector) {
    const chosen = select(request, slots, claims, rules, now, hasGpu, cpuAllowed);
    if (chosen) return chosen;
  }

  // GPUs with room for the request now: an idle instance, one being created, a new one.
  if (fittingIdle) return { kind: 'idle', slot: fittingIdle, instance: fittingIdle.idle[fittingIdle.idle.length - 1]! };
  if (fittingPending) return { kind: 'pending', slot: fittingPending };
  if (fittingCreate) return { kind: 'create', slot: fittingCreate };
  // A GPU that fits but is busy: wait for it rather than move to the CPU.
  if (fitting) return { kind: 'wait', slot: fitting };
  if (fallbackIdle) return { kind: 'idle', slot: fallbackIdle, instance: fallbackIdle.idle[fallbackIdle.idle.length - 1]! };
  if (fallbackPending) return { kind: 'pending', slot: fallbackPending };
  if (fallbackCreate) return { kind: 'create', slot: fallbackCreate };
  // Wait on the best fallback, else on the primaries, unless all of them are hopeless.
  const primaries = slots.filter((slot) => roleOf(slot, memoryMb, hasGpu, cpuAllowed) === PRIMARY);
  const waitable = fallbacks > 0 ? [...rank(slots.filter((slot) => roleOf(slot, memoryMb, hasGpu, cpuAllowed) === FALLBACK), claims), ...primaries] : primaries;
  return waitOrFail(waitable, rules, now);
}

function roleOf(slot: DeviceSlot<unknown>, memoryMb: number, hasGpu: boolean, cpuAllowed: boolean): Role {
  const gpu = slot.info.kind === 'cuda';
  if (!isUsable(slot) || (!gpu && !cpuAllowed)) return EXCLUDED;
  if (neverFits(slot, memoryMb)) return TOO_SMALL;
  return hasGpu && !gpu ? FALLBACK : PRIMARY;
}

/** Asks the selector; undefined when it lets the pool choose. */
function select<I>(
  request: PlacementRequest,
  slots: readonly DeviceSlot<I>[],
  claims: Claims<I>,
  rules: PlacementRules,
  now: number,
  hasGpu: boolean,
  cpuAllowed: boolean,
): Placement<I> | undefined {
  const withRole = (role: Role) => slots.filter((slot) => roleOf(slot, request.memoryMb, hasGpu, cpuAllowed) === role);
  const ranked = [...rank(withRole(PRIMARY), claims), ...rank(withRole(FALLBACK), claims)];
  const chosen = rules.selector!(
    ranked.map((slot) => candidateOf(slot, request.memoryMb, claims, now)),
    request.original,
  );
  if (chosen === undefined) return undefined;
  const slot = ranked.find((candidate) => candidate.info.id === chosen);
  if (!slot) return { kind: 'fail', error: notACandidateError(rules.poolName, chosen, ranked) };
  return serveOn(slot, request.memoryMb, claims, now) ?? waitOrFail([slot], rules, now);
}

function loadOf(slot: DeviceSlot<unknown>): number {
  // Instances being created count as load, so a burst of requests spreads over the devices.
  return slot.max > 0 ? (slot.inUse + slot.pendingCreates) / slot.max : 1;
}

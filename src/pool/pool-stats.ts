import { availableMemory, isUsable, reservedMemory, utilizationOf, type DeviceSlot } from './device-slot';
import type { DeviceStats, PoolState, PoolStats } from './types';

/** A snapshot of the pool from its slots and the number of queued requests (in total and per device). */
export function poolStats(
  name: string,
  state: PoolState,
  slots: readonly DeviceSlot<unknown>[],
  waiting: number,
  waitingByDevice: ReadonlyMap<string, number>,
): PoolStats {
  const devices: Record<string, DeviceStats> = {};
  const totals = {
    size: 0,
    inUse: 0,
    idle: 0,
    waiting,
    pendingCreates: 0,
    reservedMemoryMb: 0,
    totalMemoryMb: 0,
    freeMemoryMb: 0,
    utilization: 0,
  };
  let capacity = 0;
  for (const slot of slots) {
    const stats: DeviceStats = {
      device: slot.info.id,
      kind: slot.info.kind,
      healthy: slot.info.healthy,
      enabled: slot.enabled,
      min: slot.min,
      max: slot.max,
      size: slot.instances.size,
      inUse: slot.inUse,
      idle: slot.idle.length,
      waiting: waitingByDevice.get(slot.info.id) ?? 0,
      pendingCreates: slot.pendingCreates,
      reservedMemoryMb: reservedMemory(slot),
      totalMemoryMb: slot.info.totalMemoryMb,
      freeMemoryMb: slot.info.freeMemoryMb,
      availableMemoryMb: availableMemory(slot),
      utilization: utilizationOf(slot),
      consecutiveCreateFailures: slot.consecutiveFailures,
    };
    if (Number.isFinite(slot.budgetMb)) stats.memoryBudgetMb = slot.budgetMb;
    devices[slot.info.id] = stats;
    totals.size += stats.size;
    totals.inUse += stats.inUse;
    totals.idle += stats.idle;
    totals.pendingCreates += stats.pendingCreates;
    totals.reservedMemoryMb += stats.reservedMemoryMb;
    if (slot.enabled) {
      totals.totalMemoryMb += stats.totalMemoryMb;
      totals.freeMemoryMb += stats.freeMemoryMb;
    }
    if (isUsable(slot)) capacity += slot.max;
  }
  totals.utilization = capacity > 0 ? totals.inUse / capacity : 0;
  return { name, state, devices, totals };
}

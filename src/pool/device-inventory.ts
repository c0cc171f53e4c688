import { DeviceUnavailableError, InvalidArgumentError } from '../core/errors';
import { stickyDeviceProbe } from './detect-devices';
import type { DeviceInfo, DeviceProbe } from './device';
import { messageOf } from './pool-errors';
import type { PoolSlot } from './pooled-instance';
import { validateDevices, type ResolvedPoolOptions } from './pool-options';

/**
 * The devices a pool knows, one slot each, in the order they were first seen. A probe
 * refreshes what is known of them; a device that disappears is marked unhealthy rather
 * than forgotten, so its instances and leases keep their slot.
 */
export class DeviceInventory<T> {
  /** The slots in probe order (placement walks this array; it only grows). */
  readonly slots: PoolSlot<T>[] = [];
  /** The devices have been listed at least once. */
  loaded = false;
  private readonly byId = new Map<string, PoolSlot<T>>();
  private defaultProbe: DeviceProbe | undefined;
  private nextOrder = 0;

  constructor(private readonly options: ResolvedPoolOptions<T>) {}

  get(id: string): PoolSlot<T> | undefined {
    return this.byId.get(id);
  }

  /** Device ids in probe order. */
  ids(): string[] {
    return [...this.byId.keys()];
  }

  /** Lists the devices (the fixed list or the probe) and merges them in. @throws DeviceUnavailableError */
  async load(): Promise<void> {
    const prefix = `ServicePool "${this.options.name}":`;
    let fresh: Array<{ info: DeviceInfo; slot: PoolSlot<T> | undefined }>;
    try {
      const source = this.options.devices;
      const listed = Array.isArray(source) ? source : await (source ?? (this.defaultProbe ??= stickyDeviceProbe()))();
      fresh = validateDevices(listed, prefix).map((info) => ({
        info,
        slot: this.byId.has(info.id) ? undefined : this.newSlot(info),
      }));
    } catch (error) {
      throw new DeviceUnavailableError(`${prefix} could not list devices: ${messageOf(error)}`, { cause: error });
    }
    const seen = new Set<string>();
    for (const { info, slot } of fresh) {
      seen.add(info.id);
      const existing = this.byId.get(info.id);
      if (existing) {
        existing.info = info;
        // Everything the pool held when the probe ran (instances and leases' reservations):
        // the probe already counts it as used.
        existing.baselineMb = existing.instances.size * existing.instanceMb + existing.leaseMb;
      } else if (slot) {
        this.byId.set(info.id, slot);
        this.slots.push(slot);
      }
    }
    for (const slot of this.slots) {
      if (!seen.has(slot.info.id)) slot.info = { ...slot.info, healthy: false, freeMemoryMb: 0 };
    }
    this.loaded = true;
  }

  private newSlot(info: DeviceInfo): PoolSlot<T> {
    const limits = this.options.perDevice[info.id] ?? {};
    const memory = this.options.factory.memoryMb;
    const instanceMb = typeof memory === 'function' ? memory(info) : (memory ?? 0);
    if (typeof instanceMb !== 'number' || !Number.isFinite(instanceMb) || instanceMb < 0) {
      throw new InvalidArgumentError(`factory.memoryMb returned ${String(instanceMb)} for device "${info.id}"; expected a number >= 0`);
    }
    return {
      info,
      order: this.nextOrder++,
      instanceMb,
      min: limits.min ?? this.options.minPerDevice,
      max: limits.max ?? this.options.maxPerDevice,
      budgetMb: limits.memoryBudgetMb ?? Infinity,
      enabled: limits.enabled ?? true,
      instances: new Set(),
      idle: [],
      inUse: 0,
      leaseMb: 0,
      pendingCreates: 0,
      destroyingMb: 0,
      baselineMb: 0,
      consecutiveFailures: 0,
      lastCreateError: undefined,
      retryAt: 0,
      retryTimer: undefined,
    };
  }
}

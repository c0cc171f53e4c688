import type { DeviceInfo, DeviceProbe } from '../pool/device';
import { cpuDevice, stickyDeviceProbe } from '../pool/detect-devices';

/** Device routing of a task: a device id, or `any`. */
export const ANY = 'any';

/**
 * The devices one runner places tasks on, and the memory its running tasks reserve.
 * Free memory comes from the last probe (refreshed in the background); what tasks
 * started since the probe reserve is subtracted, so a burst of starts cannot overfill
 * a device between probes.
 */
export class DevicePlacement {
  private devices: DeviceInfo[] = [cpuDevice()];
  private readonly reservedSinceProbe = new Map<string, number>();
  private readonly running = new Map<string, { device: string; memoryMb: number }>();
  private probe: DeviceProbe | undefined;

  constructor(private readonly source: DeviceInfo[] | DeviceProbe | undefined) {}

  /** Probes the devices (on start, then every refresh). Never throws: keeps the last list. */
  async refresh(): Promise<void> {
    try {
      const list = Array.isArray(this.source) ? this.source : await (this.source ?? (this.probe ??= stickyDeviceProbe()))();
      if (!list.length) return; // nothing learned: keep the devices and what was reserved since
      this.devices = list.map((d) => ({ ...d }));
      this.reservedSinceProbe.clear();
    } catch {
      // keep the previous list; the next refresh may succeed
    }
  }

  /** Devices known now. */
  list(): DeviceInfo[] {
    return this.devices;
  }

  /**
   * Memory (MiB) a task may still take on `device` now: the free memory at the last probe
   * minus what tasks started since reserve, and never more than the device's total minus
   * what every running task reserves (a probe may not yet see a task's real use). With a
   * fixed device list there is no probe: free memory minus all running reservations.
   */
  available(device: DeviceInfo): number {
    const running = this.reservedRunning(device.id);
    if (Array.isArray(this.source)) return device.freeMemoryMb - running;
    return Math.min(device.freeMemoryMb - (this.reservedSinceProbe.get(device.id) ?? 0), device.totalMemoryMb - running);
  }

  private reservedRunning(device: string): number {
    let sum = 0;
    for (const held of this.running.values()) if (held.device === device) sum += held.memoryMb;
    return sum;
  }

  /** Healthy devices a task routed to `routing` may use, most available memory first (GPUs before the CPU on a tie). */
  candidates(routing: string): DeviceInfo[] {
    const healthy = this.devices.filter((d) => d.healthy && (routing === ANY || d.id === routing));
    return healthy.sort((a, b) => this.available(b) - this.available(a) || (a.kind === 'cpu' ? 1 : 0) - (b.kind === 'cpu' ? 1 : 0));
  }

  /** True when no known device could ever hold `memoryMb` (so waiting is pointless). */
  neverFits(routing: string, memoryMb: number): boolean {
    const devices = this.devices.filter((d) => routing === ANY || d.id === routing);
    return !devices.length || devices.every((d) => d.totalMemoryMb < memoryMb);
  }

  /** The device a task should start on now, or undefined when none has room. */
  choose(routing: string, memoryMb: number): DeviceInfo | undefined {
    return this.candidates(routing).find((d) => this.available(d) >= memoryMb);
  }

  /** Records that a task started on a device. */
  reserve(taskId: string, device: string, memoryMb: number): void {
    this.running.set(taskId, { device, memoryMb });
    this.reservedSinceProbe.set(device, (this.reservedSinceProbe.get(device) ?? 0) + memoryMb);
  }

  /** Records that a task ended. */
  release(taskId: string): void {
    const held = this.running.get(taskId);
    if (!held) return;
    this.running.delete(taskId);
    const left = (this.reservedSinceProbe.get(held.device) ?? 0) - held.memoryMb;
    // A release after a probe frees memory the probe still saw as used: credit it back.
    this.reservedSinceProbe.set(held.device, left);
  }

  /** Memory (MiB) reserved by running tasks, per device. */
  reservedByDevice(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const { device, memoryMb } of this.running.values()) out[device] = (out[device] ?? 0) + memoryMb;
    return out;
  }
}

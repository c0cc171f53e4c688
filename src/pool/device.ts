/** The kinds of device a {@link ServicePool} can place services on. */
export type DeviceKind = 'cpu' | 'cuda';

/**
 * One device services can run on, as detected by {@link detectDevices} or supplied by
 * the host. Memory figures are a snapshot taken when the device was probed.
 */
export interface DeviceInfo {
  /** Stable id used everywhere else: `'cpu'`, `'cuda:0'`, `'cuda:1'`, ... */
  id: string;
  /** What the device is. */
  kind: DeviceKind;
  /**
   * CUDA ordinal as this process sees it (after `CUDA_VISIBLE_DEVICES`), the number
   * to hand to a CUDA execution provider. Absent for the CPU.
   */
  index?: number;
  /** NVIDIA GPU UUID (`GPU-...`) when known; survives renumbering. */
  uuid?: string;
  /** Human-readable model name. */
  name: string;
  /** Total memory of the device in MiB. */
  totalMemoryMb: number;
  /** Free memory of the device in MiB when it was probed. */
  freeMemoryMb: number;
  /** False when the device reported an error or could not be read; nothing is placed on it. */
  healthy: boolean;
  /** Compute utilisation in percent (0-100) when the driver reports it. */
  utilizationPercent?: number;
}

/**
 * Returns the devices a pool may use. {@link detectDevices} is the default; tests and
 * hosts with their own inventory inject one.
 */
export type DeviceProbe = () => Promise<DeviceInfo[]>;

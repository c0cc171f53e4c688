// What the example takes from upkeep. A real app imports from 'upkeep' and 'upkeep/onnx'.
import os from 'node:os';
import type { DeviceInfo } from '../../src';

export { ServicePool, Upkeep, UPKEEP_ENTITIES, UPKEEP_MIGRATIONS } from '../../src';

/** The example runs on the CPU only, whatever GPUs the machine has. */
export function cpuOnly(): DeviceInfo[] {
  const mb = (n: number) => Math.floor(n / 1048576);
  return [{ id: 'cpu', kind: 'cpu', name: os.cpus()[0]?.model ?? 'cpu', totalMemoryMb: mb(os.totalmem()), freeMemoryMb: mb(os.freemem()), healthy: true }];
}

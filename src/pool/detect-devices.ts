import { execFile } from 'node:child_process';
import os from 'node:os';
import type { DeviceInfo, DeviceProbe } from './device';

/** Options of {@link detectDevices}. */
export interface DetectDevicesOptions {
  /**
   * Replaces the `nvidia-smi` query: returns the GPUs as the driver numbers them
   * (`index` = the driver's index, `uuid` when known). `CUDA_VISIBLE_DEVICES` is applied
   * to its result as to the real query. An entry of kind `'cpu'` replaces the CPU entry
   * detectDevices would build from `os`. A probe that throws counts as "no GPUs".
   */
  probe?: DeviceProbe;
  /** Environment read for `CUDA_VISIBLE_DEVICES`. @defaultValue `process.env` */
  env?: NodeJS.ProcessEnv;
  /** The `nvidia-smi` executable (a name looked up in `PATH`, or a path). @defaultValue `'nvidia-smi'` */
  nvidiaSmiPath?: string;
  /** How long `nvidia-smi` may run before it is killed and no GPUs are reported. @defaultValue `5000` */
  timeoutMs?: number;
  /** Whether the CPU is part of the result. @defaultValue `true` */
  includeCpu?: boolean;
  /**
   * Throw when the GPU query fails (times out, exits with an error, or the probe throws)
   * instead of reporting no GPUs. A missing `nvidia-smi` still means "no GPUs". Refreshes
   * use it, so one failed query does not make every GPU disappear. @defaultValue `false`
   */
  strict?: boolean;
}

/** The exact query detectDevices runs; the column order is what {@link parseNvidiaSmi} reads. */
export const NVIDIA_SMI_ARGS: readonly string[] = [
  '--query-gpu=index,uuid,name,memory.total,memory.free,utilization.gpu',
  '--format=csv,noheader,nounits',
];

const MIB = 1024 * 1024;

/**
 * Detects the devices this process can use: the CPU (total and free system memory)
 * and the NVIDIA GPUs reported by an asynchronous `nvidia-smi` query, filtered and
 * renumbered by `CUDA_VISIBLE_DEVICES` the way CUDA does (`cuda:0` is the first
 * visible GPU). Never throws: a missing `nvidia-smi`, a failing or hanging one, or a
 * failing probe all mean "no GPUs".
 *
 * CUDA numbers GPUs fastest first unless `CUDA_DEVICE_ORDER=PCI_BUS_ID`, while
 * `nvidia-smi` numbers them by PCI bus; integer entries of `CUDA_VISIBLE_DEVICES`
 * are matched against `nvidia-smi`'s numbering, which is exact with
 * `CUDA_DEVICE_ORDER=PCI_BUS_ID` or identical GPUs. UUID entries are always exact.
 */
export async function detectDevices(options: DetectDevicesOptions = {}): Promise<DeviceInfo[]> {
  const env = options.env ?? process.env;
  let reported: DeviceInfo[];
  try {
    reported = options.probe
      ? await options.probe()
      : await queryNvidiaSmi(options.nvidiaSmiPath ?? 'nvidia-smi', options.timeoutMs ?? 5000);
    if (!Array.isArray(reported)) reported = [];
  } catch (error) {
    if (options.strict) throw error;
    reported = [];
  }

  const gpus = reported
    .filter((device) => device && device.kind === 'cuda')
    .map((device, position) => ({ ...device, index: device.index ?? position }));
  const devices: DeviceInfo[] = [];
  if (options.includeCpu ?? true) {
    const cpu = reported.find((device) => device && device.kind === 'cpu');
    devices.push(cpu ? { ...cpu } : cpuDevice());
  }
  devices.push(...applyCudaVisibleDevices(gpus, env.CUDA_VISIBLE_DEVICES));
  return devices;
}

/**
 * Parses the output of
 * `nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.free,utilization.gpu --format=csv,noheader,nounits`.
 * Ids follow the driver's numbering (`cuda:<index>`); {@link detectDevices} renumbers
 * them by `CUDA_VISIBLE_DEVICES`. A GPU whose memory cannot be read, or that reports an
 * error, is returned with `healthy: false`; lines that are not GPU rows are skipped.
 */
export function parseNvidiaSmi(text: string): DeviceInfo[] {
  const devices: DeviceInfo[] = [];
  for (const line of text.split(/\r?\n/)) {
    const fields = line.split(',').map((field) => field.trim());
    if (fields.length < 6) continue;
    const index = Number(fields[0]);
    if (fields[0] === '' || !Number.isInteger(index) || index < 0) continue;
    // A name with a comma in it spreads over several fields; the last three are numbers.
    const [uuid, ...rest] = fields.slice(1, -3);
    const name = rest.join(', ');
    const [totalText, freeText, utilizationText] = fields.slice(-3) as [string, string, string];
    const total = parseMetric(totalText);
    const free = parseMetric(freeText);
    const utilization = parseMetric(utilizationText);
    const reportsError = fields.some(
      (field) => field === 'ERR!' || (field.startsWith('[') && /error|lost|reset/i.test(field)),
    );
    const device: DeviceInfo = {
      id: `cuda:${index}`,
      kind: 'cuda',
      index,
      name: name || 'NVIDIA GPU',
      totalMemoryMb: total ?? 0,
      freeMemoryMb: free ?? 0,
      healthy: total !== undefined && free !== undefined && !reportsError,
    };
    if (uuid && uuid.startsWith('GPU-')) device.uuid = uuid;
    if (utilization !== undefined) device.utilizationPercent = utilization;
    devices.push(device);
  }
  return devices;
}

/**
 * Applies a `CUDA_VISIBLE_DEVICES` value to GPUs in the driver's numbering, as CUDA
 * does: `undefined` shows all; an empty value shows none; otherwise a comma-separated
 * list of indices or `GPU-<uuid prefix>` entries picks GPUs in the listed order, and the
 * first invalid, unknown, ambiguous or repeated entry (such as `-1`) ends the list.
 * The result is renumbered `cuda:0`, `cuda:1`, ... in visible order.
 */
export function applyCudaVisibleDevices(gpus: DeviceInfo[], visible: string | undefined): DeviceInfo[] {
  let chosen: DeviceInfo[];
  if (visible === undefined) {
    chosen = [...gpus].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
  } else {
    chosen = [];
    for (const rawEntry of visible.split(',')) {
      const entry = rawEntry.trim();
      let match: DeviceInfo | undefined;
      if (/^-?\d+$/.test(entry)) {
        match = gpus.find((gpu) => gpu.index === Number(entry));
      } else if (/^GPU-/i.test(entry)) {
        const prefix = entry.toLowerCase();
        const matches = gpus.filter((gpu) => gpu.uuid?.toLowerCase().startsWith(prefix));
        match = matches.length === 1 ? matches[0] : undefined;
      }
      if (!match || chosen.includes(match)) break;
      chosen.push(match);
    }
  }
  return chosen.map((gpu, ordinal) => ({ ...gpu, id: `cuda:${ordinal}`, index: ordinal }));
}

/** The CPU as a device: system memory, capped by the cgroup limit when there is one. */
export function cpuDevice(): DeviceInfo {
  let total = os.totalmem();
  const constrained = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : undefined;
  if (typeof constrained === 'number' && constrained > 0 && constrained < total) total = constrained;
  const free = Math.min(os.freemem(), total);
  return {
    id: 'cpu',
    kind: 'cpu',
    name: os.cpus()[0]?.model.trim() || `${os.arch()} CPU`,
    totalMemoryMb: Math.floor(total / MIB),
    freeMemoryMb: Math.floor(free / MIB),
    healthy: true,
  };
}

function parseMetric(text: string): number | undefined {
  if (!/^\d+(\.\d+)?$/.test(text)) return undefined;
  return Number(text);
}

function queryNvidiaSmi(executable: string, timeoutMs: number): Promise<DeviceInfo[]> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (devices: DeviceInfo[]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(devices);
    };
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(error);
    };
    const child = execFile(
      executable,
      [...NVIDIA_SMI_ARGS],
      { windowsHide: true, maxBuffer: 1024 * 1024, encoding: 'utf8' },
      (error, stdout) => {
        if (!error) return finish(parseNvidiaSmi(stdout));
        // No nvidia-smi at all: no NVIDIA GPUs. Anything else is a failed query.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return finish([]);
        fail(error);
      },
    );
    // Our own timer rather than execFile's `timeout`: that one waits for the output pipes
    // to close, which a grandchild that inherited them can delay indefinitely.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      child.stdout?.destroy();
      child.stderr?.destroy();
      fail(new Error(`nvidia-smi did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    timer.unref();
  });
}

/**
 * The default probe of pools and runners: the first query may fail softly (no GPUs), later
 * ones throw on failure so callers keep the devices they already know.
 */
export function stickyDeviceProbe(): DeviceProbe {
  let loaded = false;
  return async () => {
    const devices = await detectDevices({ strict: loaded });
    loaded = true;
    return devices;
  };
}

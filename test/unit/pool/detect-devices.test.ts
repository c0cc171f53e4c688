import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceInfo } from '../../../src/pool';
import { detectDevices, parseNvidiaSmi, ServicePool } from '../../../src/pool';
import { applyCudaVisibleDevices, NVIDIA_SMI_ARGS } from '../../../src/pool/detect-devices';
import { fakeFactory } from './fakes';

const UUIDS = [
  'GPU-1a2b3c4d-0000-1111-2222-333344445555',
  'GPU-1a2b9999-0000-1111-2222-333344445555',
  'GPU-77777777-aaaa-bbbb-cccc-ddddeeeeffff',
  'GPU-c0ffee00-1234-5678-9abc-def012345678',
];

/** What `nvidia-smi --query-gpu=... --format=csv,noheader,nounits` prints on a 4-GPU machine. */
const FOUR_GPUS = [
  `0, ${UUIDS[0]}, NVIDIA H100 80GB HBM3, 81559, 80000, 3`,
  `1, ${UUIDS[1]}, NVIDIA H100 80GB HBM3, 81559, 40000, 57`,
  `2, ${UUIDS[2]}, NVIDIA H100 80GB HBM3, 81559, 1000, [N/A]`,
  `3, ${UUIDS[3]}, NVIDIA H100 80GB HBM3, 81559, 60000, 0`,
  '',
].join('\n');

function simulatedGpus(count: number): DeviceInfo[] {
  return parseNvidiaSmi(FOUR_GPUS).slice(0, count);
}

describe('parseNvidiaSmi', () => {
  it('reads every GPU row', () => {
    const gpus = parseNvidiaSmi(FOUR_GPUS);
    expect(gpus).toHaveLength(4);
    expect(gpus[1]).toEqual({
      id: 'cuda:1',
      kind: 'cuda',
      index: 1,
      uuid: UUIDS[1],
      name: 'NVIDIA H100 80GB HBM3',
      totalMemoryMb: 81559,
      freeMemoryMb: 40000,
      healthy: true,
      utilizationPercent: 57,
    });
    expect(gpus[2]!.utilizationPercent).toBeUndefined();
    expect(gpus[2]!.healthy).toBe(true);
  });

  it('marks a GPU that reports errors unhealthy and skips lines that are not GPU rows', () => {
    const text = [
      'No devices were found',
      '0, GPU-aaaa, Tesla T4, [Unknown Error], [Unknown Error], [Unknown Error]',
      '1, GPU-bbbb, Tesla T4, 15360, 15000, ERR!',
      '2, GPU-cccc, Weird, Name, With Commas, 15360, 14000, 5',
      'x, GPU-dddd, Tesla T4, 15360, 15000, 0',
    ].join('\r\n');
    const gpus = parseNvidiaSmi(text);
    expect(gpus.map((gpu) => [gpu.id, gpu.healthy])).toEqual([
      ['cuda:0', false],
      ['cuda:1', false],
      ['cuda:2', true],
    ]);
    expect(gpus[0]).toMatchObject({ totalMemoryMb: 0, freeMemoryMb: 0 });
    expect(gpus[2]).toMatchObject({ name: 'Weird, Name, With Commas', freeMemoryMb: 14000 });
    expect(parseNvidiaSmi('')).toEqual([]);
  });
});

describe('CUDA_VISIBLE_DEVICES', () => {
  const gpus = simulatedGpus(4);
  const visible = (value: string | undefined) => applyCudaVisibleDevices(gpus, value).map((gpu) => `${gpu.id}=${gpu.uuid}`);

  it('shows all GPUs when unset and none when empty or -1', () => {
    expect(visible(undefined)).toHaveLength(4);
    expect(visible('')).toEqual([]);
    expect(visible('-1')).toEqual([]);
  });

  it('picks GPUs by index in the listed order and renumbers them from cuda:0', () => {
    expect(visible('2,0')).toEqual([`cuda:0=${UUIDS[2]}`, `cuda:1=${UUIDS[0]}`]);
    const [first] = applyCudaVisibleDevices(gpus, ' 3 ');
    expect(first).toMatchObject({ id: 'cuda:0', index: 0, freeMemoryMb: 60000 });
  });

  it('picks GPUs by UUID prefix and stops at the first invalid, unknown, ambiguous or repeated entry', () => {
    expect(visible('GPU-c0ffee,GPU-7777')).toEqual([`cuda:0=${UUIDS[3]}`, `cuda:1=${UUIDS[2]}`]);
    expect(visible('1,-1,2')).toEqual([`cuda:0=${UUIDS[1]}`]);
    expect(visible('3,9,0')).toEqual([`cuda:0=${UUIDS[3]}`]);
    expect(visible('2,GPU-1a2b,0')).toEqual([`cuda:0=${UUIDS[2]}`]); // GPU-1a2b matches two
    expect(visible('0,0,1')).toEqual([`cuda:0=${UUIDS[0]}`]);
    expect(visible('MIG-abc,0')).toEqual([]);
  });
});

describe('detectDevices with an injected probe', () => {
  const fixedCpu: DeviceInfo = { id: 'cpu', kind: 'cpu', name: 'Probe CPU', totalMemoryMb: 1000, freeMemoryMb: 500, healthy: true };

  it.each([0, 1, 4])('reports the CPU and %i simulated GPUs', async (count) => {
    const devices = await detectDevices({ probe: async () => simulatedGpus(count), env: {} });
    expect(devices.map((device) => device.id)).toEqual(['cpu', ...Array.from({ length: count }, (_, i) => `cuda:${i}`)]);
    expect(devices[0]).toMatchObject({ kind: 'cpu', healthy: true });
    expect(devices[0]!.totalMemoryMb).toBeGreaterThan(0);
    expect(devices[0]!.freeMemoryMb).toBeLessThanOrEqual(devices[0]!.totalMemoryMb);
  });

  it('applies CUDA_VISIBLE_DEVICES to the probe, uses its CPU entry, and can leave the CPU out', async () => {
    const probe = async () => [fixedCpu, ...simulatedGpus(4)];
    const devices = await detectDevices({ probe, env: { CUDA_VISIBLE_DEVICES: `${UUIDS[3]},1` } });
    expect(devices).toEqual([
      fixedCpu,
      expect.objectContaining({ id: 'cuda:0', index: 0, uuid: UUIDS[3] }),
      expect.objectContaining({ id: 'cuda:1', index: 1, uuid: UUIDS[1] }),
    ]);
    const gpusOnly = await detectDevices({ probe, env: { CUDA_VISIBLE_DEVICES: '' }, includeCpu: false });
    expect(gpusOnly).toEqual([]);
  });

  it('treats a probe that throws as no GPUs', async () => {
    const devices = await detectDevices({
      probe: async () => {
        throw new Error('NVML not loaded');
      },
    });
    expect(devices.map((device) => device.kind)).toEqual(['cpu']);
  });

  it('feeds a ServicePool that places by the simulated free memory', async () => {
    const { factory } = fakeFactory();
    const pool = new ServicePool({
      factory,
      devices: () => detectDevices({ probe: async () => [fixedCpu, ...simulatedGpus(4)], env: { CUDA_VISIBLE_DEVICES: '2,1,0' } }),
    });
    const lease = await pool.acquire({ memoryMb: 50_000 });
    // Visible: cuda:0 = physical 2 (1000 MB free), cuda:1 = physical 1 (40000), cuda:2 = physical 0 (80000).
    expect(lease.device).toBe('cuda:2');
    expect(pool.devices().map((device) => device.uuid)).toEqual([undefined, UUIDS[2], UUIDS[1], UUIDS[0]]);
    await lease.release();
    await pool.close();
  });
});

describe('detectDevices with a fake nvidia-smi executable', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'upkeep-nvidia-smi-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function script(name: string, body: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  }

  it('runs the query and reads 4 GPUs, honouring CUDA_VISIBLE_DEVICES', async () => {
    const argsFile = join(dir, 'args.txt');
    const path = await script('nvidia-smi-4', `printf '%s\\n' "$@" > '${argsFile}'\ncat <<'EOF'\n${FOUR_GPUS}EOF`);
    const all = await detectDevices({ nvidiaSmiPath: path, env: {} });
    expect(all.map((device) => device.id)).toEqual(['cpu', 'cuda:0', 'cuda:1', 'cuda:2', 'cuda:3']);
    expect(all[4]).toMatchObject({ uuid: UUIDS[3], freeMemoryMb: 60000, totalMemoryMb: 81559 });
    expect((await readFile(argsFile, 'utf8')).trim().split('\n')).toEqual([...NVIDIA_SMI_ARGS]);

    const two = await detectDevices({ nvidiaSmiPath: path, env: { CUDA_VISIBLE_DEVICES: '3,GPU-1a2b3c' } });
    expect(two.slice(1).map((device) => [device.id, device.uuid])).toEqual([
      ['cuda:0', UUIDS[3]],
      ['cuda:1', UUIDS[0]],
    ]);
  });

  it('reads a single GPU', async () => {
    const path = await script('nvidia-smi-1', `echo '0, ${UUIDS[0]}, NVIDIA L4, 23034, 22000, 0'`);
    const devices = await detectDevices({ nvidiaSmiPath: path, env: {} });
    expect(devices.map((device) => device.id)).toEqual(['cpu', 'cuda:0']);
    expect(devices[1]).toMatchObject({ name: 'NVIDIA L4', freeMemoryMb: 22000, healthy: true });
  });

  it('reports no GPUs when nvidia-smi is missing, fails or hangs, without throwing', async () => {
    const missing = await detectDevices({ nvidiaSmiPath: join(dir, 'does-not-exist'), env: {} });
    expect(missing.map((device) => device.id)).toEqual(['cpu']);

    const failing = await script('nvidia-smi-fail', `echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'\nexit 9`);
    expect((await detectDevices({ nvidiaSmiPath: failing, env: {} })).map((device) => device.id)).toEqual(['cpu']);

    const hanging = await script('nvidia-smi-hang', 'sleep 10');
    const started = performance.now();
    const hung = await detectDevices({ nvidiaSmiPath: hanging, env: {}, timeoutMs: 150 });
    expect(hung.map((device) => device.id)).toEqual(['cpu']);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

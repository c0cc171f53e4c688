/**
 * ServicePool throughput: acquire + release pairs per second, with the acquire latency.
 *
 *   npx tsx bench/pool.ts            (about 18 s)
 *   BENCH_SECONDS=1 npx tsx bench/pool.ts
 *
 * The services are plain objects, so the figures are the pool's own overhead: device
 * selection, hand-off to waiters, book-keeping. Nothing here touches a real GPU.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { ServicePool, type AcquireOptions, type DeviceInfo, type ServicePoolOptions } from '../src/pool';

interface Scenario {
  name: string;
  devices: DeviceInfo[];
  pool: Omit<ServicePoolOptions<object>, 'factory' | 'devices'>;
  workers: number;
  request: AcquireOptions;
  /** Microtask turns a lease is held (simulated async work), so leases overlap across workers. */
  holdTicks: number;
}

interface Result {
  scenario: Scenario;
  instances: number;
  ops: number;
  seconds: number;
  p50: number;
  p99: number;
  max: number;
  spread: string;
  peakWaiting: number;
}

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WARMUP_SECONDS = Math.min(0.5, SECONDS / 4);

const cpu: DeviceInfo = { id: 'cpu', kind: 'cpu', name: 'bench CPU', totalMemoryMb: 64_000, freeMemoryMb: 48_000, healthy: true };
const gpus: DeviceInfo[] = [0, 1, 2, 3].map((index) => ({
  id: `cuda:${index}`,
  kind: 'cuda',
  index,
  name: 'simulated GPU',
  totalMemoryMb: 81_920,
  freeMemoryMb: 80_000 - index * 1000,
  healthy: true,
}));

const scenarios: Scenario[] = [
  { name: 'single device, 1 worker', devices: [cpu], pool: { maxPerDevice: 1 }, workers: 1, request: {}, holdTicks: 0 },
  {
    name: "4 GPUs 'auto', 8 workers",
    devices: [cpu, ...gpus],
    pool: { maxPerDevice: 2 },
    workers: 8,
    request: { memoryMb: 2000 },
    holdTicks: 2,
  },
  {
    name: 'contended: 64 workers, 4 instances',
    devices: [cpu],
    pool: { maxPerDevice: 4 },
    workers: 64,
    request: {},
    holdTicks: 2,
  },
  {
    name: 'single device + leak detection',
    devices: [cpu],
    pool: { maxPerDevice: 1, leaseTimeoutMs: 60_000 },
    workers: 1,
    request: {},
    holdTicks: 0,
  },
];

async function run(scenario: Scenario): Promise<Result> {
  const pool = new ServicePool<object>({
    ...scenario.pool,
    name: 'bench',
    devices: scenario.devices,
    factory: { create: async (device) => ({ device: device.id }) },
    acquireTimeoutMs: 60_000,
  });
  await pool.start();

  const perDevice = new Map<string, number>();
  const latencies: number[] = [];
  let ops = 0;
  let peakWaiting = 0;
  let measuring = false;
  const started = performance.now();
  const warmEnd = started + WARMUP_SECONDS * 1000;
  const end = warmEnd + SECONDS * 1000;
  let measureStart = warmEnd;
  let nextReport = warmEnd + 1000;

  // Hand-offs resolve through microtasks only, so timers would starve: workers watch the clock.
  // (Yielding to the event loop per worker would serialise the workers and hide contention.)
  const worker = async (): Promise<void> => {
    for (;;) {
      const before = performance.now();
      if (before >= end) return;
      if (!measuring && before >= warmEnd) {
        measuring = true;
        measureStart = before;
      }
      const lease = await pool.acquire(scenario.request);
      const after = performance.now();
      if (measuring) {
        latencies.push(after - before);
        ops += 1;
        perDevice.set(lease.device, (perDevice.get(lease.device) ?? 0) + 1);
        if ((ops & 255) === 0) peakWaiting = Math.max(peakWaiting, pool.stats().totals.waiting);
        if (after >= nextReport) {
          nextReport += 1000;
          const elapsed = (after - measureStart) / 1000;
          console.log(`  ${scenario.name}: ${elapsed.toFixed(1)} s, ${format(ops)} ops, ${format(ops / elapsed)} ops/s`);
        }
      }
      for (let tick = 0; tick < scenario.holdTicks; tick += 1) await null;
      await lease.release();
    }
  };
  await Promise.all(Array.from({ length: scenario.workers }, worker));
  const seconds = (performance.now() - measureStart) / 1000;
  const instances = pool.stats().totals.size;
  await pool.close();

  latencies.sort((a, b) => a - b);
  const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  const spread = [...perDevice.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([device, count]) => `${device} ${Math.round((100 * count) / ops)}%`)
    .join(', ');
  return { scenario, instances, ops, seconds, p50: pick(0.5), p99: pick(0.99), max: latencies.at(-1) ?? 0, spread, peakWaiting };
}

function format(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  return [line(rows[0]!), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

async function main(): Promise<void> {
  console.log(`ServicePool bench: Node ${process.version}, ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'} x${os.cpus().length}`);
  console.log(`${scenarios.length} scenarios, ${WARMUP_SECONDS} s warm-up + ${SECONDS} s each\n`);
  const results: Result[] = [];
  for (const scenario of scenarios) {
    console.log(`> ${scenario.name}`);
    results.push(await run(scenario));
  }
  console.log('\nacquire + release per second (latency of the acquire, in microseconds)\n');
  console.log(
    table([
      ['scenario', 'workers', 'instances', 'peak waiting', 'ops/s', 'p50 µs', 'p99 µs', 'max µs', 'placement'],
      ...results.map((result) => [
        result.scenario.name,
        String(result.scenario.workers),
        String(result.instances),
        String(result.peakWaiting),
        format(result.ops / result.seconds),
        (result.p50 * 1000).toFixed(1),
        (result.p99 * 1000).toFixed(1),
        format(result.max * 1000),
        result.spread,
      ]),
    ]),
  );
}

await main();

/**
 * ONNX Runtime sessions as pooled services: throughput and event-loop stalls.
 *
 *   npx tsx bench/onnx.ts            (or: npm run bench:onnx)
 *   BENCH_SECONDS=5 npx tsx bench/onnx.ts   seconds per throughput phase (default 4)
 *
 * 1. Generates the ≈3.7M-parameter scorer model (1024 → 3606 → 1) into a temp dir.
 * 2. Inferences per second, one document (batch 1) per task:
 *      - one pooled session, reused (in its worker thread), and the same in-process for reference;
 *      - a new session created, used once and closed per task (the seed's "old approach").
 * 3. The longest event-loop stall while big batches run: worker thread vs in-process `session.run`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOnnxSessionFactory, type DeviceInfo, type OnnxSessionFactory, type OnnxSessionService } from '../src/integrations/onnx';
import { createScorerWeights, encodeScorerModel, scorerInput, scorerParameterCount, scorerSizesForParams } from '../scripts/generate-onnx-model';

const PHASE_SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const NEW_SESSION_TASKS = 20;
const STALL_BATCH = 256;
const STALL_RUNS = 8;

const cpu: DeviceInfo = { id: 'cpu', kind: 'cpu', name: cpus()[0]?.model ?? 'CPU', totalMemoryMb: 0, freeMemoryMb: 0, healthy: true };
let instances = 0;
const ctx = () => ({ instanceId: `bench-${++instances}`, signal: new AbortController().signal });

const log = (line: string) => console.log(`[bench:onnx] ${line}`);
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Tracks the longest gap between ticks of a 1 ms interval: how long the event loop was held. */
function stallMonitor() {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last - 1);
    last = now;
  }, 1);
  return {
    stop(): number {
      clearInterval(timer);
      return Math.max(longest, performance.now() - last - 1, 0);
    },
  };
}

async function pooledThroughput(factory: OnnxSessionFactory, features: Float32Array, inputSize: number) {
  const session = await factory.create(cpu, ctx());
  try {
    const feeds = { features: { type: 'float32', data: features, dims: [1, inputSize] } };
    for (let i = 0; i < 50; i++) await session.run(feeds); // warm-up
    const deadline = performance.now() + PHASE_SECONDS * 1000;
    const started = performance.now();
    let count = 0;
    while (performance.now() < deadline) {
      await session.run(feeds);
      count += 1;
    }
    return { perSecond: count / ((performance.now() - started) / 1000), count };
  } finally {
    await factory.destroy(session);
  }
}

async function newSessionPerTask(factory: OnnxSessionFactory, features: Float32Array, inputSize: number) {
  const feeds = { features: { type: 'float32', data: features, dims: [1, inputSize] } };
  const started = performance.now();
  for (let i = 0; i < NEW_SESSION_TASKS; i++) {
    const session: OnnxSessionService = await factory.create(cpu, ctx());
    await session.run(feeds);
    await factory.destroy(session);
  }
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: NEW_SESSION_TASKS / seconds, msPerTask: (seconds * 1000) / NEW_SESSION_TASKS };
}

async function stallDuringInference(factory: OnnxSessionFactory, batch: Float32Array, inputSize: number) {
  const session = await factory.create(cpu, ctx());
  try {
    const feeds = { features: { type: 'float32', data: batch, dims: [STALL_BATCH, inputSize] } };
    await session.run(feeds); // warm-up
    const monitor = stallMonitor();
    const started = performance.now();
    for (let i = 0; i < STALL_RUNS; i++) await session.run(feeds);
    const msPerRun = (performance.now() - started) / STALL_RUNS;
    return { longestStallMs: monitor.stop(), msPerRun };
  } finally {
    await factory.destroy(session);
  }
}

async function main() {
  const benchStarted = performance.now();
  log(`node ${process.version}, ${availableParallelism()} cores (${cpu.name}), ${PHASE_SECONDS} s per throughput phase`);

  const sizes = scorerSizesForParams(3_700_000);
  const params = scorerParameterCount(sizes.inputSize, sizes.hiddenSize);
  log(`generating the scorer model ${sizes.inputSize} -> ${sizes.hiddenSize} -> 1 (${fmt(params)} parameters)...`);
  const dir = mkdtempSync(join(tmpdir(), 'upkeep-bench-onnx-'));
  const modelPath = join(dir, 'scorer-3.7m.onnx');
  const bytes = encodeScorerModel(createScorerWeights({ ...sizes, seed: 42 }));
  writeFileSync(modelPath, bytes);
  log(`wrote ${modelPath} (${fmt(bytes.length / 1e6, 1)} MB)`);

  const one = scorerInput(1, sizes.inputSize, 1);
  const batch = scorerInput(STALL_BATCH, sizes.inputSize, 2);
  const worker = createOnnxSessionFactory({ model: modelPath });
  const inProcess = createOnnxSessionFactory({ model: modelPath, useWorkerThread: false });
  log(`sessions use intraOpNumThreads=${worker.intraOpNumThreads}, interOpNumThreads=${worker.interOpNumThreads}`);

  try {
    log('pooled session (worker thread), one document per run...');
    const pooledWorker = await pooledThroughput(worker, one, sizes.inputSize);
    log(`  ${fmt(pooledWorker.perSecond)} inferences/s (${fmt(pooledWorker.count)} runs)`);

    log('pooled session (in-process, for reference)...');
    const pooledInProcess = await pooledThroughput(inProcess, one, sizes.inputSize);
    log(`  ${fmt(pooledInProcess.perSecond)} inferences/s (${fmt(pooledInProcess.count)} runs)`);

    log(`new session per task (worker thread: start worker, load model, run, close) x ${NEW_SESSION_TASKS}...`);
    const perTaskWorker = await newSessionPerTask(worker, one, sizes.inputSize);
    log(`  ${fmt(perTaskWorker.perSecond, 1)} inferences/s (${fmt(perTaskWorker.msPerTask, 1)} ms per task)`);

    log(`new session per task (in-process: load model, run, release) x ${NEW_SESSION_TASKS}...`);
    const perTaskInProcess = await newSessionPerTask(inProcess, one, sizes.inputSize);
    log(`  ${fmt(perTaskInProcess.perSecond, 1)} inferences/s (${fmt(perTaskInProcess.msPerTask, 1)} ms per task)`);

    log(`event-loop stall, ${STALL_RUNS} runs of a ${STALL_BATCH}-document batch, worker thread...`);
    const stallWorker = await stallDuringInference(worker, batch, sizes.inputSize);
    log(`  longest stall ${fmt(stallWorker.longestStallMs, 1)} ms (${fmt(stallWorker.msPerRun, 1)} ms per run)`);

    log(`event-loop stall, ${STALL_RUNS} runs of a ${STALL_BATCH}-document batch, in-process session.run...`);
    const stallInProcess = await stallDuringInference(inProcess, batch, sizes.inputSize);
    log(`  longest stall ${fmt(stallInProcess.longestStallMs, 1)} ms (${fmt(stallInProcess.msPerRun, 1)} ms per run)`);

    const rows: [string, string][] = [
      ['pooled session, worker thread', `${fmt(pooledWorker.perSecond)} inferences/s`],
      ['pooled session, in-process', `${fmt(pooledInProcess.perSecond)} inferences/s`],
      ['new session per task, worker thread', `${fmt(perTaskWorker.perSecond, 1)} inferences/s`],
      ['new session per task, in-process', `${fmt(perTaskInProcess.perSecond, 1)} inferences/s`],
      ['speed-up of pooling (worker)', `${fmt(pooledWorker.perSecond / perTaskWorker.perSecond)}x`],
      [`longest event-loop stall, worker thread`, `${fmt(stallWorker.longestStallMs, 1)} ms`],
      [`longest event-loop stall, in-process run`, `${fmt(stallInProcess.longestStallMs, 1)} ms`],
    ];
    const width = Math.max(...rows.map(([label]) => label.length));
    console.log('');
    console.log(`upkeep/onnx — ${fmt(params)}-parameter scorer on ${availableParallelism()} cores`);
    for (const [label, value] of rows) console.log(`  ${label.padEnd(width)}  ${value}`);
    console.log(`  (stalls measured over ${STALL_RUNS} inferences of ${STALL_BATCH} documents, ≈${fmt(stallInProcess.msPerRun)} ms each)`);
    if (import.meta.url.endsWith('.ts')) {
      console.log('  (from TypeScript sources each new worker also boots tsx, which the built package does not)');
    }
    console.log('');
    log(`done in ${fmt((performance.now() - benchStarted) / 1000, 1)} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

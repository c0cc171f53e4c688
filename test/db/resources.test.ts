import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { IsInt, IsOptional, IsString, Min } from 'class-validator';
import {
  MaintenanceTaskProcessor,
  OutOfMemoryError,
  Processor,
  ServicePool,
  Upkeep,
  metricsToPrometheus,
  type DeviceInfo,
  type MaintenanceTask,
  type ResourceRequest,
  type TaskContext,
  type UpkeepEventMap,
} from '../../src';
import { databaseProblem, openTestDataSource, TEST_DB, waitFor } from '../helpers/db';

const problem = await databaseProblem();
const q = (n: number) => (TEST_DB === 'postgres' ? `$${n}` : '?');

const DEVICES: DeviceInfo[] = [
  { id: 'cpu', kind: 'cpu', name: 'cpu', totalMemoryMb: 16_000, freeMemoryMb: 8_000, healthy: true },
  { id: 'cuda:0', kind: 'cuda', index: 0, name: 'H100', totalMemoryMb: 80_000, freeMemoryMb: 60_000, healthy: true },
  { id: 'cuda:1', kind: 'cuda', index: 1, name: 'H100', totalMemoryMb: 80_000, freeMemoryMb: 2_000, healthy: true },
];

/** Things the cleanup tests look at. */
const cleaned = new Map<string, { hook: boolean; tempDir: string | null; processorCleanup: boolean }>();

@Processor('res-model')
class ModelProcessor extends MaintenanceTaskProcessor<{ device: string | null; instance: string }> {
  @IsInt() @Min(0)
  memoryMb = 4000;

  override resources(): ResourceRequest {
    return { memoryMb: this.memoryMb };
  }

  async process(task: MaintenanceTask, ctx: TaskContext) {
    const pool = ctx.services.pool as ServicePool<{ id: string }>;
    ctx.stage('load');
    const lease = await ctx.acquire(pool);
    ctx.stage('infer');
    await new Promise((r) => setTimeout(r, 30));
    return { device: ctx.device, instance: lease.service.id };
  }
}

@Processor('res-exit')
class ExitPathProcessor extends MaintenanceTaskProcessor {
  @IsString()
  mode!: 'complete' | 'error' | 'timeout' | 'cancel' | 'shutdown' | 'hang-cleanup';

  async process(task: MaintenanceTask, ctx: TaskContext): Promise<unknown> {
    const dir = await ctx.tempDir();
    const state = { hook: false, tempDir: dir, processorCleanup: false };
    cleaned.set(task.id, state);
    ctx.onCleanup(() => {
      state.hook = true;
    });
    if (this.mode === 'hang-cleanup') ctx.onCleanup(() => new Promise(() => undefined));
    if (this.mode === 'error') throw new Error('failing on purpose');
    if (this.mode === 'complete' || this.mode === 'hang-cleanup') return { ok: true };
    await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
    return null;
  }

  override cleanup(task: MaintenanceTask): void {
    cleaned.get(task.id)!.processorCleanup = true;
  }
}

/** Runs out of memory while its batch is above `fitsBatch`; halving is its way out. */
@Processor('res-oom')
class BatchProcessor extends MaintenanceTaskProcessor<{ batchSize: number; device: string | null }> {
  @IsInt() @Min(1)
  batchSize = 64;

  @IsInt() @Min(1)
  fitsBatch = 32;

  @IsOptional() @IsString()
  device?: string;

  override resources(): ResourceRequest {
    return { memoryMb: 1000, ...(this.device ? { device: this.device } : {}) };
  }

  override reduceMemory(factor: number): void {
    this.batchSize = Math.max(1, Math.floor(this.batchSize * factor));
  }

  process(_task: MaintenanceTask, ctx: TaskContext) {
    if (this.batchSize > this.fitsBatch) throw new OutOfMemoryError(`batch of ${this.batchSize} does not fit`);
    return { batchSize: this.batchSize, device: ctx.device };
  }
}

@Processor('res-hungry')
class HungryProcessor extends MaintenanceTaskProcessor {
  @IsInt()
  useMb = 95;

  override resources(): ResourceRequest {
    return { memoryMb: 50, memoryLimitMb: 100 };
  }

  async process(_task: MaintenanceTask, ctx: TaskContext) {
    ctx.reportMemory(this.useMb);
    for (let i = 0; i < 40; i++) {
      ctx.throwIfStopping();
      await new Promise((r) => setTimeout(r, 25));
      if (i === 10) ctx.reportMemory(this.useMb * 2);
    }
    return { done: true };
  }
}

@Processor('res-hungry-deaf')
class DeafHungryProcessor extends MaintenanceTaskProcessor {
  override resources(): ResourceRequest {
    return { memoryMb: 50, memoryLimitMb: 100 };
  }

  // Passes its limit and never looks at the abort signal: finishes its work regardless.
  async process(_task: MaintenanceTask, ctx: TaskContext) {
    ctx.reportMemory(250);
    await new Promise((r) => setTimeout(r, 30));
    return { done: true, aborted: ctx.signal.aborted };
  }
}

const big = { running: 0, most: 0 };

@Processor('res-big')
class BigProcessor extends MaintenanceTaskProcessor {
  @IsInt()
  memoryMb = 5000;

  override resources(): ResourceRequest {
    return { memoryMb: this.memoryMb, device: 'cpu' };
  }

  async process() {
    big.running++;
    big.most = Math.max(big.most, big.running);
    await new Promise((r) => setTimeout(r, 60));
    big.running--;
    return { ok: true };
  }
}

@Processor('res-slow')
class SlowProcessor extends MaintenanceTaskProcessor {
  @IsInt()
  memoryMb = 0;

  @IsInt()
  ms = 50;

  override resources(): ResourceRequest {
    return { memoryMb: this.memoryMb };
  }

  async process() {
    await new Promise((r) => setTimeout(r, this.ms));
    return { ok: true };
  }
}

/** Runs out of memory on any GPU the pool lends it. */
@Processor('res-gpu-oom')
class GpuOomProcessor extends MaintenanceTaskProcessor<{ device: string }> {
  async process(_task: MaintenanceTask, ctx: TaskContext) {
    const lease = await ctx.acquire(ctx.services.pool as ServicePool<{ id: string }>);
    if (lease.device !== 'cpu') throw new OutOfMemoryError('CUDA out of memory: tried to allocate 2.00 GiB');
    return { device: lease.device };
  }
}

describe.skipIf(problem)(`resources on ${TEST_DB}`, () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let upkeep: Upkeep;
  let pool: ServicePool<{ id: string }>;
  let created = 0;

  beforeAll(async () => {
    ({ dataSource, close } = await openTestDataSource());
    pool = new ServicePool({
      name: 'fake-model',
      devices: DEVICES,
      maxPerDevice: 2,
      factory: { create: async (_device, { instanceId }) => ({ id: `svc-${++created}-${instanceId}` }), memoryMb: 500 },
    });
    upkeep = new Upkeep({
      dataSource,
      devices: DEVICES,
      services: { pool },
      processors: [ModelProcessor, ExitPathProcessor, BatchProcessor, HungryProcessor, DeafHungryProcessor, BigProcessor, SlowProcessor],
      settings: { cleanupTimeoutSeconds: 1, metricsIntervalMs: 100, retry: { initialDelayMs: 20, jitter: 0 } },
    });
  });
  afterAll(async () => {
    await upkeep?.close();
    await pool?.close();
    await close?.();
  });

  it('places a task by free memory, records device, estimate, service instance, metrics and resource events', async () => {
    const task = await upkeep.createTask(ModelProcessor.create({ memoryMb: 4000 }));
    expect(task.estimatedMemoryMb).toBe(4000);
    await upkeep.runDue();
    const done = (await upkeep.getTask(task.id))!;
    expect(done.status).toBe('COMPLETED');
    expect(done.assignedDevice).toBe('cuda:0'); // the only device with 4000 MiB free
    expect(done.serviceInstanceId).toMatch(/.+/);
    expect((done.info as { instance: string }).instance).toContain(done.serviceInstanceId!);
    expect(done.resourceCleanupCompleted).toBe(true);
    expect(done.actualMemoryMb).toBeGreaterThanOrEqual(4000); // the lease reserves the estimate
    const metrics: Array<{ processing_stage: string | null; device: string; memory_usage_mb: number }> = await dataSource.query(
      `SELECT processing_stage, device, memory_usage_mb FROM task_metrics WHERE task_id = ${q(1)} ORDER BY id`,
      [task.id],
    );
    expect(metrics.map((m) => m.processing_stage)).toEqual(expect.arrayContaining(['load', 'infer']));
    expect(metrics.every((m) => m.device === 'cuda:0')).toBe(true);
    const events: Array<{ event_type: string }> = await dataSource.query(`SELECT event_type FROM task_events WHERE task_id = ${q(1)} ORDER BY id`, [task.id]);
    expect(events.map((e) => e.event_type)).toEqual(expect.arrayContaining(['resource_acquired', 'resource_released', 'cleanup_started', 'cleanup_completed']));
    expect(pool.stats().totals.inUse).toBe(0); // released at cleanup
  });

  it.each(['complete', 'error', 'timeout', 'cancel', 'shutdown'] as const)('cleans up on the %s exit path', async (mode) => {
    const task = await upkeep.createTask(ExitPathProcessor.create({ mode }), { maxAttempts: 1, ...(mode === 'timeout' ? { timeoutMs: 100 } : {}) });
    const runner = upkeep.createRunner({ pollIntervalMs: 20, interruptGraceMs: 1000 });
    await runner.start();
    await waitFor(() => cleaned.has(task.id));
    if (mode === 'cancel') await upkeep.cancelTask(task.id);
    if (mode === 'shutdown') await runner.stop({ graceMs: 50 });
    const expected = { complete: 'COMPLETED', error: 'ERROR', timeout: 'ERROR', cancel: 'CANCELLED', shutdown: 'PENDING' }[mode];
    const t = await waitFor(async () => {
      const current = await upkeep.getTask(task.id);
      return current?.status === expected && (mode === 'shutdown' || current.resourceCleanupCompleted) ? current : null;
    });
    await runner.stop();
    const state = cleaned.get(task.id)!;
    expect(state.hook).toBe(true);
    expect(state.processorCleanup).toBe(true);
    expect(existsSync(state.tempDir!)).toBe(false);
    expect(t.resourceCleanupCompleted).toBe(true);
    if (mode === 'shutdown') await upkeep.cancelTask(task.id);
  });

  it('a hanging cleanup is cut off at cleanupTimeoutSeconds and shows in the health warnings', async () => {
    const task = await upkeep.createTask(ExitPathProcessor.create({ mode: 'hang-cleanup' }));
    const started = Date.now();
    await upkeep.runDue();
    expect(Date.now() - started).toBeLessThan(5000);
    const t = (await upkeep.getTask(task.id))!;
    expect(t.status).toBe('COMPLETED');
    expect(t.resourceCleanupCompleted).toBe(false);
    // upkeep's own clean-up still ran after the hook hung: no temp folder is left behind.
    expect(existsSync(cleaned.get(task.id)!.tempDir!)).toBe(false);
    const health = await upkeep.taskHealth(task.id);
    expect(health.warnings.join('\n')).toMatch(/cut off/);
  });

  it('recovers from running out of memory: requeued with a halved batch and lower priority, succeeds on the retry', async () => {
    const oom: Array<UpkeepEventMap['task:oom']> = [];
    const alerts: Array<UpkeepEventMap['alert']> = [];
    upkeep.events.on('task:oom', (e) => oom.push(e));
    upkeep.events.on('alert', (e) => alerts.push(e));
    const task = await upkeep.createTask(BatchProcessor.create({ batchSize: 64, fitsBatch: 32, device: 'cpu' }), { priority: 5 });
    const runner = upkeep.createRunner({ pollIntervalMs: 20 });
    await runner.start();
    const t = await waitFor(async () => ((await upkeep.getTask(task.id))?.status === 'COMPLETED' ? upkeep.getTask(task.id) : null));
    await runner.stop();
    expect(t!.attempts).toBe(2);
    expect(t!.info).toMatchObject({ batchSize: 32 });
    expect(JSON.parse(t!.processorJson).batchSize).toBe(32);
    expect(t!.priority).toBe(4);
    expect(oom.find((e) => e.taskId === task.id)).toMatchObject({ action: 'retry', batchFactor: 0.5 });
    expect(alerts.find((a) => a.taskId === task.id)?.kind).toBe('out_of_memory');
    const rows: Array<{ event_type: string }> = await dataSource.query(`SELECT event_type FROM task_events WHERE task_id = ${q(1)}`, [task.id]);
    expect(rows.map((r) => r.event_type)).toContain('out_of_memory');
  });

  it('falls back to the CPU after running out of memory on a GPU', async () => {
    const task = await upkeep.createTask(BatchProcessor.create({ batchSize: 64, fitsBatch: 32, device: 'cuda:0' }));
    expect(task.assignedDevice).toBe('cuda:0');
    const runner = upkeep.createRunner({ pollIntervalMs: 20 });
    await runner.start();
    const t = await waitFor(async () => ((await upkeep.getTask(task.id))?.status === 'COMPLETED' ? upkeep.getTask(task.id) : null));
    await runner.stop();
    expect(t!.info).toMatchObject({ device: 'cpu', batchSize: 32 });
    expect(t!.assignedDevice).toBe('cpu');
  });

  it('falls back to the CPU after a pooled service ran out of memory on a GPU, also with resource tracking off', async () => {
    const untracked = new Upkeep({
      dataSource,
      services: { pool },
      processors: [GpuOomProcessor],
      settings: { enableResourceTracking: false, retry: { initialDelayMs: 20, jitter: 0 } },
    });
    const task = await untracked.createTask(GpuOomProcessor.create({}));
    const runner = untracked.createRunner({ pollIntervalMs: 20 });
    await runner.start();
    const t = await waitFor(async () => ((await untracked.getTask(task.id))?.status === 'COMPLETED' ? untracked.getTask(task.id) : null));
    await runner.stop();
    await untracked.close();
    expect(t!.attempts).toBe(2);
    expect(t!.info).toEqual({ device: 'cpu' });
    expect(t!.runnerInfo!.placement).toMatchObject({ device: 'cpu', reason: 'oom_cpu_fallback' });
  });

  it('gives up with OUT_OF_MEMORY after maxAttempts', async () => {
    const task = await upkeep.createTask(BatchProcessor.create({ batchSize: 64, fitsBatch: 1 }), { maxAttempts: 2 });
    const runner = upkeep.createRunner({ pollIntervalMs: 20 });
    await runner.start();
    const t = await waitFor(async () => ((await upkeep.getTask(task.id))?.status === 'ERROR' ? upkeep.getTask(task.id) : null));
    await runner.stop();
    expect(t!.failureReason).toBe('out_of_memory');
    expect(t!.attempts).toBe(2);
  });

  it('a processor that passes its memoryLimitMb and ignores the abort still ends MEMORY_LIMIT_EXCEEDED, not COMPLETED (issue 11)', async () => {
    const task = await upkeep.createTask(DeafHungryProcessor.create({}), { maxAttempts: 3 });
    await upkeep.runDue();
    const t = (await upkeep.getTask(task.id))!;
    expect(t.status).toBe('ERROR');
    expect(t.failureReason).toBe('memory_limit_exceeded');
    expect(t.attempts).toBe(1);
    expect(t.info).toMatchObject({ errorName: 'MemoryLimitExceededError', attempt: 1 });
    expect(t.info!.error).toMatch(/above its limit of 100 MiB/);
  });

  it('warns near the memory limit and fails with MEMORY_LIMIT_EXCEEDED past it', async () => {
    const warnings: Array<UpkeepEventMap['memory:warning']> = [];
    upkeep.events.on('memory:warning', (e) => warnings.push(e));
    const task = await upkeep.createTask(HungryProcessor.create({ useMb: 95 }));
    await upkeep.runDue();
    const t = (await upkeep.getTask(task.id))!;
    expect(t.status).toBe('ERROR');
    expect(t.failureReason).toBe('memory_limit_exceeded');
    expect(warnings.find((w) => w.taskId === task.id)).toMatchObject({ usedMb: 95, limitMb: 100 });
    expect((await upkeep.taskHealth(task.id)).warnings.join('\n')).toMatch(/memory warning/);
  });

  it('dispatches a task only to a device with room: tasks that do not fit together wait in the local queue', async () => {
    // cpu has 8000 MiB free: two 5000 MiB tasks cannot run at once.
    big.most = 0;
    await upkeep.createTasks([1, 2, 3].map(() => ({ processor: BigProcessor.create({ memoryMb: 5000 }) })));
    const summary = await upkeep.runDue({ concurrency: 4 });
    expect(summary.completed).toBeGreaterThanOrEqual(3);
    expect(big.most).toBe(1);
    // Small ones share the device: 3 x 2000 MiB fit in 8000 MiB at once.
    big.most = 0;
    await upkeep.createTasks([1, 2, 3].map(() => ({ processor: BigProcessor.create({ memoryMb: 2000 }) })));
    await upkeep.runDue({ concurrency: 4 });
    expect(big.most).toBe(3);
  });

  it('a task that no device could ever hold fails with DEVICE_UNAVAILABLE instead of waiting', async () => {
    const task = await upkeep.createTask(BigProcessor.create({ memoryMb: 999_999 }));
    await upkeep.runDue();
    const t = (await upkeep.getTask(task.id))!;
    expect(t.status).toBe('ERROR');
    expect(t.failureReason).toBe('device_unavailable');
  });

  it('the local queue holds at most maxQueueSize claimed tasks', async () => {
    const small = new Upkeep({ dataSource, processors: [SlowProcessor], devices: DEVICES, settings: { maxQueueSize: 3 } });
    await small.createTasks(Array.from({ length: 12 }, () => ({ processor: SlowProcessor.create({ ms: 40 }) })));
    const runner = small.createRunner({ concurrency: 1, pollIntervalMs: 20, claimBatchSize: 3 });
    let mostQueued = 0;
    let mostUnfinished = 0;
    const watch = setInterval(() => {
      const stats = runner.stats();
      mostQueued = Math.max(mostQueued, stats.buffered);
      mostUnfinished = Math.max(mostUnfinished, stats.buffered + stats.inFlight);
    }, 5);
    await runner.start();
    await waitFor(async () => {
      const counts = await small.countByStatus();
      return counts.PENDING === 0 && counts.WORKING === 0;
    }, 20_000);
    clearInterval(watch);
    await runner.stop();
    await small.close();
    expect(mostQueued).toBeGreaterThan(0);
    expect(mostQueued).toBeLessThanOrEqual(3);
    // Running + queued (results waiting for their batched write are bounded on their own).
    expect(mostUnfinished).toBeLessThanOrEqual(1 + 3);
  });

  it('a task waiting in the local queue longer than queueTimeoutSeconds is handed back to the database', async () => {
    const tiny: DeviceInfo[] = [{ id: 'cpu', kind: 'cpu', name: 'cpu', totalMemoryMb: 1000, freeMemoryMb: 1000, healthy: true }];
    const u = new Upkeep({ dataSource, processors: [SlowProcessor], devices: tiny, settings: { queueTimeoutSeconds: 1 } });
    const released: Array<UpkeepEventMap['task:released']> = [];
    u.events.on('task:released', (e) => released.push(e));
    const [first, second] = await u.createTasks([
      { processor: SlowProcessor.create({ memoryMb: 800, ms: 2500 }), priority: 1 },
      { processor: SlowProcessor.create({ memoryMb: 800, ms: 10 }) },
    ]);
    const runner = u.createRunner({ concurrency: 2, pollIntervalMs: 5000 });
    await runner.start();
    await waitFor(() => released.some((e) => e.task.id === second!.id), 8000);
    expect(released.find((e) => e.task.id === second!.id)!.reason).toBe('queue_timeout');
    await waitFor(async () => (await u.getTask(first!.id))?.status === 'COMPLETED', 8000);
    await runner.stop();
    await u.close();
  });

  it('metrics() has the seed shape and renders as Prometheus text; taskHealth reports a running task', async () => {
    const task = await upkeep.createTask(HungryProcessor.create({ useMb: 10 }));
    const runner = upkeep.createRunner({ pollIntervalMs: 20 });
    await runner.start();
    await waitFor(async () => (await upkeep.getTask(task.id))?.status === 'WORKING');
    await new Promise((r) => setTimeout(r, 250));
    const m = await upkeep.metrics();
    expect(m.activeTasks.total).toBeGreaterThanOrEqual(1);
    expect(m.activeTasks.byType['res-hungry']).toBe(1);
    expect(m.memoryByDevice['cuda:0']!.totalMb).toBe(80_000);
    expect(m.poolUtilization['fake-model']).toBeDefined();
    expect(typeof m.statusCounts.COMPLETED).toBe('number');
    const text = metricsToPrometheus(m);
    expect(text).toMatch(/^# TYPE upkeep_active_tasks gauge$/m);
    expect(text).toMatch(/^upkeep_active_tasks\{processor_type="res-hungry"\} 1$/m);
    expect(text).toMatch(/^upkeep_device_memory_total_mb\{device="cuda:0"\} 80000$/m);
    const health = await upkeep.taskHealth(task.id);
    expect(health.status).toBe('WORKING');
    expect(health.memoryUsageMb).toBe(10);
    expect(health.processingTimeS).toBeGreaterThan(0);
    expect(health.device).toBe('cuda:0');
    await runner.stop({ graceMs: 5000 });
  });
});

import { MetricRecorder } from '../resources/metric-recorder';
import { placementDevice } from './placement-of';
import { MemoryLimitExceededError } from '../core/errors';
import type { AcquireOptions, ServiceLease } from '../pool/types';
import type { ServicePool } from '../pool/service-pool';
import type { InFlight, RunnerCore } from './runner-types';

/** Pooled services borrowed through ctx.acquire, memory samples (task_metrics) and memory limits of running tasks. @internal */
export class ResourceTracker {
  constructor(private readonly r: RunnerCore) {
    this.metrics = new MetricRecorder(r.up.runnerStore.db, (error) => r.reportError('metrics', error));
  }

  readonly metrics: MetricRecorder;

  /** `ctx.acquire(pool)`: a pooled service for this task, released at cleanup. */
  async acquireFor<T>(flight: InFlight, pool: ServicePool<T>, opts: AcquireOptions = {}): Promise<ServiceLease<T>> {
    const { task, ctx } = flight;
    this.r.up.pools.add(pool);
    // A task placed for a reason (a memory estimate or a device preference) asks for that
    // device; otherwise the pool chooses.
    const preferred = placementDevice(task);
    const placed = flight.device !== null && (task.estimatedMemoryMb !== null || preferred !== undefined);
    const request: AcquireOptions = { device: opts.device ?? (placed ? flight.device! : (preferred ?? 'auto')), signal: opts.signal ?? ctx.signal };
    const memoryMb = opts.memoryMb ?? task.estimatedMemoryMb ?? undefined;
    if (memoryMb !== undefined) request.memoryMb = memoryMb;
    if (opts.timeoutMs !== undefined) request.timeoutMs = opts.timeoutMs;
    const lease = await pool.acquire(request);
    flight.leases.push(lease as ServiceLease<unknown>);
    task.assignedDevice = lease.device;
    task.serviceInstanceId = lease.instanceId;
    ctx.device = lease.device;
    // Awaited by processor code (ctx.acquire), maybe inside its own transaction: the foreground store.
    await this.r.up.store.saveResources(task.id, { assignedDevice: lease.device, serviceInstanceId: lease.instanceId }).catch((error) => this.r.reportError('resources', error));
    this.r.up.publish('resource:acquired', { taskId: task.id, device: lease.device, instanceId: lease.instanceId, memoryMb: lease.memoryMb || null });
    // Releasing by hand is fine: the lease is then released only once.
    const release = lease.release.bind(lease);
    const destroy = lease.destroy.bind(lease);
    let done = false;
    const finish = (fn: () => Promise<void>) => async () => {
      if (done) return fn();
      done = true;
      await fn();
      flight.leases.splice(flight.leases.indexOf(lease as ServiceLease<unknown>), 1);
      this.r.up.publish('resource:released', { taskId: task.id, device: lease.device, instanceId: lease.instanceId });
    };
    Object.defineProperty(lease, 'release', { value: finish(release) });
    Object.defineProperty(lease, 'destroy', { value: finish(destroy) });
    return lease;
  }

  async releaseLeases(flight: InFlight): Promise<void> {
    for (const lease of [...flight.leases]) await lease.release();
  }

  /** Memory (MiB) a running task uses: what it reported, else its leases' reservations, else the process growth since it started. */
  memoryOf(flight: InFlight): number {
    if (flight.reportedMemoryMb !== undefined) return flight.reportedMemoryMb;
    const leased = flight.leases.reduce((sum, l) => sum + (l.memoryMb || 0), 0);
    if (leased > 0) return leased;
    return Math.max(0, rssMb() - flight.rssAtStartMb);
  }

  /** Records one `task_metrics` sample of a task and enforces its memory limit. */
  sample(flight: InFlight): void {
    const used = this.memoryOf(flight);
    flight.peakMemoryMb = Math.max(flight.peakMemoryMb, used);
    this.metrics.record({
      taskId: flight.task.id,
      timestamp: this.r.up.now(),
      memoryUsageMb: Math.round(used),
      device: flight.device ?? flight.ctx.device,
      processingStage: flight.ctx.currentStage,
    });
    this.checkLimit(flight, used);
  }

  /** Aborts a task past its memory limit; warns once at 90 %. */
  checkLimit(flight: InFlight, used: number): void {
    const limit = flight.memoryLimitMb;
    if (limit === undefined || flight.ctx.aborted) return;
    if (used > limit) {
      flight.ctx.abort(new MemoryLimitExceededError(`Task ${flight.task.id} used ${Math.round(used)} MiB, above its limit of ${limit} MiB`));
    } else if (used >= limit * 0.9 && !flight.warned) {
      flight.warned = true;
      this.r.up.publish('memory:warning', { taskId: flight.task.id, device: flight.device, usedMb: Math.round(used), limitMb: limit });
    }
  }

  async sampleMemory(): Promise<void> {
    for (const flight of this.r.inFlight.values()) this.sample(flight);
    await this.metrics.flush();
  }
}

let rssCache = { at: 0, mb: 0 };
/** Process RSS in MiB, read at most every 20 ms (reading it costs a system call). */
export function rssMb(): number {
  const now = Date.now();
  if (now - rssCache.at > 20) rssCache = { at: now, mb: process.memoryUsage.rss() / 1048576 };
  return rssCache.mb;
}


import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { InvalidArgumentError } from '../../core/errors';
import type { Upkeep } from '../../core/upkeep';
import type { UpkeepMetrics } from '../../metrics/metrics-types';

/** Options of {@link registerUpkeepMetrics}. */
export interface UpkeepPrometheusOptions {
  /** The host's prom-client registry the metrics are registered on. */
  registry: Registry;
  /** Prefix of every metric name. @defaultValue 'upkeep' */
  prefix?: string;
  /** Buckets (seconds) of the run-duration histogram. @defaultValue [0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600] */
  durationBuckets?: number[];
  /** Buckets (seconds) of the wait-time histogram. @defaultValue [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 21600] */
  waitBuckets?: number[];
  /**
   * Reuse one `upkeep.metrics()` snapshot for this long across the gauges of a scrape
   * (they are collected concurrently). @defaultValue 1000
   */
  snapshotMaxAgeMs?: number;
}

/** What {@link registerUpkeepMetrics} registered; `remove()` takes it all off the registry and stops listening. */
export interface UpkeepPrometheusCollector {
  /** Names of the registered metrics. */
  readonly names: string[];
  /** Stops listening to upkeep's events and removes the metrics from the registry. */
  remove(): void;
}

const OPTION_KEYS = new Set(['registry', 'prefix', 'durationBuckets', 'waitBuckets', 'snapshotMaxAgeMs']);

/**
 * Registers upkeep's metrics on a host's prom-client registry: counters fed by this
 * process's runners (completed, failed by reason, retried, rescued), histograms of run
 * duration and of wait time from due to start per processor type, and the seed's gauges
 * (active and queued tasks, memory by device, pool utilization, average wait) read from
 * `upkeep.metrics()` at scrape time. Counters and histograms count what this process's
 * runners did; gauges describe the whole database.
 */
export function registerUpkeepMetrics(upkeep: Upkeep, options: UpkeepPrometheusOptions): UpkeepPrometheusCollector {
  if (!options || typeof options !== 'object') throw new InvalidArgumentError('registerUpkeepMetrics(upkeep, options): options must be an object with a registry');
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) throw new InvalidArgumentError(`registerUpkeepMetrics: unknown option "${key}"`);
  const registry = options.registry;
  if (!registry || typeof registry.registerMetric !== 'function') throw new InvalidArgumentError('registerUpkeepMetrics: registry must be a prom-client Registry');
  const prefix = options.prefix ?? 'upkeep';
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) throw new InvalidArgumentError(`registerUpkeepMetrics: prefix "${prefix}" is not a valid Prometheus metric name`);
  const registers = [registry];
  const names: string[] = [];
  const name = (n: string) => {
    const full = `${prefix}_${n}`;
    names.push(full);
    return full;
  };

  const completed = new Counter({ name: name('tasks_completed_total'), help: 'Tasks completed by this process, per processor type.', labelNames: ['processor_type'], registers });
  const failed = new Counter({ name: name('tasks_failed_total'), help: 'Failed attempts in this process, per processor type, failure reason and whether a retry follows.', labelNames: ['processor_type', 'reason', 'will_retry'], registers });
  const retried = new Counter({ name: name('tasks_retried_total'), help: 'Retries scheduled (after a failed attempt, by backoff) or requested by an admin.', labelNames: ['processor_type', 'by'], registers });
  const rescued = new Counter({ name: name('tasks_rescued_total'), help: 'Tasks whose runner died (lease expired), requeued or failed.', labelNames: ['processor_type', 'outcome'], registers });
  const duration = new Histogram({
    name: name('task_run_duration_seconds'),
    help: 'Run time of an attempt from start to its end, per processor type and outcome.',
    labelNames: ['processor_type', 'outcome'],
    buckets: options.durationBuckets ?? [0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
    registers,
  });
  const wait = new Histogram({
    name: name('task_wait_seconds'),
    help: 'Time from a task being due to its attempt starting, per processor type.',
    labelNames: ['processor_type'],
    buckets: options.waitBuckets ?? [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 21600],
    registers,
  });

  // The seed's gauges, from one metrics() snapshot per scrape.
  const maxAge = options.snapshotMaxAgeMs ?? 1000;
  let snapshot: { at: number; value: Promise<UpkeepMetrics> } | undefined;
  const metrics = () => {
    if (!snapshot || Date.now() - snapshot.at > maxAge) {
      const value = upkeep.metrics();
      snapshot = { at: Date.now(), value };
      value.catch(() => (snapshot = undefined));
    }
    return snapshot.value;
  };
  const gauge = <L extends string>(n: string, help: string, labelNames: L[], fill: (m: UpkeepMetrics, set: (labels: Record<L, string>, value: number | null) => void) => void) =>
    new Gauge<L>({
      name: name(n),
      help,
      labelNames,
      registers,
      async collect() {
        const m = await metrics();
        this.reset();
        fill(m, (labels, value) => {
          if (value !== null && Number.isFinite(value)) (labelNames.length ? this.set(labels as never, value) : this.set(value));
        });
      },
    });
  gauge('tasks', 'Tasks per status.', ['status'], (m, set) => Object.entries(m.statusCounts).forEach(([status, n]) => set({ status }, n)));
  gauge('active_tasks', 'WORKING tasks (the seed\'s active_tasks), per processor type.', ['processor_type'], (m, set) => Object.entries(m.activeTasks.byType).forEach(([t, n]) => set({ processor_type: t }, n)));
  gauge('active_tasks_by_device', 'WORKING tasks per device.', ['device'], (m, set) => Object.entries(m.activeTasks.byDevice).forEach(([d, n]) => set({ device: d }, n)));
  gauge('queued_tasks', 'PENDING tasks (the seed\'s queued_tasks), due now or scheduled later.', ['state'], (m, set) => {
    set({ state: 'due' }, m.queuedTasks.due);
    set({ state: 'scheduled' }, m.queuedTasks.scheduled);
  });
  gauge('queued_tasks_by_type', 'PENDING tasks per processor type.', ['processor_type'], (m, set) => Object.entries(m.queuedTasks.byType).forEach(([t, n]) => set({ processor_type: t }, n)));
  gauge('memory_estimated_mb', 'Memory estimated by running tasks, MiB (the seed\'s memory_by_device).', ['device'], (m, set) => Object.entries(m.memoryByDevice).forEach(([d, v]) => set({ device: d }, v.estimatedMb)));
  gauge('device_memory_free_mb', 'Free memory of the device at the last probe, MiB.', ['device'], (m, set) => Object.entries(m.memoryByDevice).forEach(([d, v]) => set({ device: d }, v.freeMb)));
  gauge('pool_utilization', 'Instances in use over the maximum, 0..1 (the seed\'s pool_utilization).', ['pool'], (m, set) => Object.entries(m.poolUtilization).forEach(([p, u]) => set({ pool: p }, u.utilization)));
  gauge('average_wait_seconds', 'Mean seconds from due time to start over the last hour (the seed\'s average_wait_time).', [], (m, set) => set({}, m.averageWaitTime));

  // Counters and histograms from this process's events.
  const startedAt = new Map<string, number>();
  const end = (task: { id: string; processorType: string }, outcome: string, reportedMs?: number) => {
    const began = startedAt.get(task.id);
    startedAt.delete(task.id);
    const ms = reportedMs ?? (began === undefined ? undefined : Date.now() - began);
    if (ms !== undefined) duration.observe({ processor_type: task.processorType, outcome }, Math.max(0, ms) / 1000);
  };
  const listeners = {
    'task:started': ({ task }) => {
      startedAt.set(task.id, Date.now());
      if (task.startedAt && task.startAt) wait.observe({ processor_type: task.processorType }, Math.max(0, task.startedAt.getTime() - task.startAt.getTime()) / 1000);
    },
    'task:completed': ({ task, durationMs }) => {
      completed.inc({ processor_type: task.processorType });
      end(task, 'completed', durationMs);
    },
    'task:failed': ({ task, reason, willRetry }) => {
      failed.inc({ processor_type: task.processorType, reason, will_retry: String(willRetry) });
      if (willRetry) retried.inc({ processor_type: task.processorType, by: 'backoff' });
      end(task, 'failed');
    },
    'task:retried': ({ task }) => retried.inc({ processor_type: task.processorType, by: 'admin' }),
    'task:cancelled': ({ task }) => end(task, 'cancelled'),
    'task:paused': ({ task }) => end(task, 'paused'),
    'task:released': ({ task }) => end(task, 'released'),
    'task:lease-expired': ({ task, requeued }) => {
      rescued.inc({ processor_type: task.processorType, outcome: requeued ? 'requeued' : 'failed' });
      end(task, 'lease-expired');
    },
  } satisfies { [E in Parameters<Upkeep['events']['on']>[0]]?: Parameters<typeof upkeep.events.on<E>>[1] };
  for (const [event, listener] of Object.entries(listeners)) upkeep.events.on(event as never, listener as never);

  return {
    names,
    remove() {
      for (const [event, listener] of Object.entries(listeners)) upkeep.events.off(event as never, listener as never);
      for (const n of names) registry.removeSingleMetric(n);
      startedAt.clear();
    },
  };
}

import type { UpkeepMetrics } from './metrics-types';

const escape = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/**
 * Renders a metrics snapshot in the Prometheus text exposition format (version 0.0.4):
 * serve it with `Content-Type: text/plain; version=0.0.4`.
 */
export function toPrometheus(metrics: UpkeepMetrics, prefix = 'upkeep'): string {
  const lines: string[] = [];
  const family = (name: string, help: string, samples: Array<[Record<string, string>, number | null]>) => {
    const full = `${prefix}_${name}`;
    lines.push(`# HELP ${full} ${help}`, `# TYPE ${full} gauge`);
    for (const [labels, value] of samples) {
      if (value === null || !Number.isFinite(value)) continue;
      const l = Object.entries(labels).map(([k, v]) => `${k}="${escape(v)}"`).join(',');
      lines.push(`${full}${l ? `{${l}}` : ''} ${value}`);
    }
  };
  family('tasks', 'Tasks per status.', Object.entries(metrics.statusCounts).map(([status, n]) => [{ status }, n]));
  family('active_tasks', 'WORKING tasks per processor type.', [[{}, metrics.activeTasks.total], ...Object.entries(metrics.activeTasks.byType).map(([t, n]) => [{ processor_type: t }, n] as [Record<string, string>, number])]);
  family('active_tasks_by_device', 'WORKING tasks per device.', Object.entries(metrics.activeTasks.byDevice).map(([d, n]) => [{ device: d }, n]));
  family('queued_tasks', 'PENDING tasks, due now or scheduled later.', [
    [{ state: 'due' }, metrics.queuedTasks.due],
    [{ state: 'scheduled' }, metrics.queuedTasks.scheduled],
  ]);
  family('queued_tasks_by_type', 'PENDING tasks per processor type.', Object.entries(metrics.queuedTasks.byType).map(([t, n]) => [{ processor_type: t }, n]));
  family('local_queue_tasks', 'Claimed tasks waiting in this process for a slot or a device.', [[{}, metrics.queuedTasks.local]]);
  const mem = Object.entries(metrics.memoryByDevice);
  family('memory_estimated_mb', 'Memory estimated by running tasks, MiB.', mem.map(([d, m]) => [{ device: d }, m.estimatedMb]));
  family('memory_pool_reserved_mb', 'Memory reserved by service pools, MiB.', mem.map(([d, m]) => [{ device: d }, m.poolReservedMb]));
  family('device_memory_total_mb', 'Total memory of the device, MiB.', mem.map(([d, m]) => [{ device: d }, m.totalMb]));
  family('device_memory_free_mb', 'Free memory of the device at the last probe, MiB.', mem.map(([d, m]) => [{ device: d }, m.freeMb]));
  const pools = Object.entries(metrics.poolUtilization);
  family('pool_utilization', 'Instances in use over the maximum (0..1).', pools.flatMap(([p, u]) => [[{ pool: p }, u.utilization] as [Record<string, string>, number], ...Object.entries(u.byDevice).map(([d, v]) => [{ pool: p, device: d }, v] as [Record<string, string>, number])]));
  family('pool_waiting', 'Requests waiting for a pooled service.', pools.map(([p, u]) => [{ pool: p }, u.waiting]));
  family('average_wait_seconds', 'Mean seconds from due time to start over the last hour.', [[{}, metrics.averageWaitTime]]);
  return `${lines.join('\n')}\n`;
}

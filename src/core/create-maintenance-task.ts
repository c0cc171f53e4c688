import type { DataSource } from 'typeorm';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import type { MaintenanceTaskProcessor } from '../processor/maintenance-task-processor';
import { TaskStore } from '../store/task-store';
import { InvalidArgumentError } from './errors';
import { resolveSettings, type UpkeepSettingsInput } from './settings';
import { buildTaskRow, type CreateTaskOptions } from './upkeep';

/**
 * The seed's `create_maintenance_task` as a plain function: stores one task for
 * `processor` without an `Upkeep` instance (no events are emitted). Same options and
 * validation as `upkeep.createTask`.
 */
export async function createMaintenanceTask(
  dataSource: DataSource,
  processor: MaintenanceTaskProcessor,
  options: CreateTaskOptions & { settings?: UpkeepSettingsInput } = {},
): Promise<MaintenanceTask> {
  const { settings, ...taskOptions } = options;
  const now = new Date();
  const row = buildTaskRow(processor, taskOptions, now, resolveSettings(settings), 'createMaintenanceTask()');
  const store = new TaskStore(dataSource);
  if (row.dependsOn.length) {
    const statuses = await store.statusesOf(row.dependsOn);
    const missing = row.dependsOn.filter((id) => !statuses.has(id));
    if (missing.length) throw new InvalidArgumentError(`dependsOn: no task has id ${missing.join(', ')}`);
  }
  const [result] = await store.insertTasks([row], now);
  return result!.task;
}

import type { DataSource } from 'typeorm';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import type { MaintenanceTaskProcessor } from '../processor/maintenance-task-processor';
import { TaskStore } from '../store/task-store';
import { resolveSettings, type UpkeepSettingsInput } from './settings';
import { buildTaskRow, checkDependencies, type CreateTaskOptions } from './upkeep';

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
  const { settings, ...taskOptions } = options ?? {};
  const now = new Date();
  const row = buildTaskRow(processor, taskOptions, now, resolveSettings(settings), 'createMaintenanceTask()');
  const store = new TaskStore(dataSource);
  await checkDependencies(store, [row]);
  const [result] = await store.insertTasks([row], now);
  return result!.task;
}

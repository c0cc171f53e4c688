import { MaintenanceTask } from './maintenance-task.entity';
import { TaskDependency } from './task-dependency.entity';
import { TaskEvent } from './task-event.entity';
import { TaskMetric } from './task-metric.entity';

export { MaintenanceTask, TaskDependency, TaskEvent, TaskMetric };
export type { JsonValue, TaskInfo, TaskRunnerInfo } from './maintenance-task.entity';

/** Every entity upkeep needs; spread into your DataSource's `entities`. */
export const UPKEEP_ENTITIES = [MaintenanceTask, TaskMetric, TaskEvent, TaskDependency] as const;

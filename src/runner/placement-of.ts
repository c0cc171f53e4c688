import type { MaintenanceTask } from '../entities/maintenance-task.entity';

/** The device a task's stored placement (`runner_info.placement`) asks for (a processor's preference, an admin pin, an OOM fallback), if any. @internal */
export function placementDevice(task: MaintenanceTask | undefined): string | undefined {
  // (Rows written before runner_info had it in info.placement; UpkeepRunnerInfo1764900000000 moves it.)
  return task?.runnerInfo?.placement?.device;
}

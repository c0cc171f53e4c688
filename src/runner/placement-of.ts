import type { MaintenanceTask } from '../entities/maintenance-task.entity';

/** The device a task's stored placement asks for (a processor's preference, an admin pin, an OOM fallback), if any. @internal */
export function placementDevice(task: MaintenanceTask | undefined): string | undefined {
  const placement = (task?.runnerInfo?.placement ?? task?.info?.placement) as { device?: string } | undefined;
  return placement?.device;
}

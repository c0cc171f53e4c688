import type { Upkeep } from '../core/upkeep';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import { executorFor, type Executor } from '../store/executor';

/**
 * The one place the admin API reaches into the facade's internals (the store's DataSource,
 * event publishing, runner wake-ups), so a change there is fixed here only.
 */
export function dbOf(upkeep: Upkeep): Executor {
  return executorFor(upkeep.internals.store.dataSource);
}

/** Wakes this process's runners and, on PostgreSQL, listening runners elsewhere. */
export async function wakeRunners(upkeep: Upkeep): Promise<void> {
  upkeep.internals.wake();
  await upkeep.internals.store.notify();
}

/** Emits (and persists, when enabled) a lifecycle event through the facade. */
export function publishReset(upkeep: Upkeep, task: MaintenanceTask): void {
  upkeep.internals.publish('task:reset', { task });
}

/** Emits `task:resumed` for a PAUSED task started through the admin API. */
export function publishResumed(upkeep: Upkeep, task: MaintenanceTask): void {
  upkeep.internals.publish('task:resumed', { task });
}

/** A runner as GET /runners lists it. */
export interface RunnerInfo {
  id: string;
  host: string | null;
  pid: number | null;
  concurrency: number | null;
  inFlight: number | null;
  lastHeartbeatAt: Date | string | null;
  [key: string]: unknown;
}

/**
 * Runners alive now, from `upkeep.listRunners()` (the runner registry) when the facade has
 * it; null when this build has no registry yet.
 */
export async function listRunners(upkeep: Upkeep): Promise<RunnerInfo[] | null> {
  const fn = (upkeep as unknown as { listRunners?: () => Promise<RunnerInfo[]> }).listRunners;
  if (typeof fn !== 'function') return null;
  return fn.call(upkeep);
}

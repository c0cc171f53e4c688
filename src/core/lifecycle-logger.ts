import type { UpkeepEvents } from '../events/upkeep-events';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import { toUpkeepLogger, type HostLogger, type LoggerStyle, type UpkeepLogger } from './logger';

/** Options of {@link attachLifecycleLogger}. */
export interface LifecycleLoggerOptions {
  /** Declares the logger's argument style instead of detecting it (see `toUpkeepLogger`). */
  style?: LoggerStyle;
  /** Level of start, completion, pause, release and runner lines. @defaultValue 'info' */
  level?: 'debug' | 'info';
  /** Clock for durations of attempts that did not report one. @defaultValue Date.now */
  now?: () => number;
}

/** The fields every task line carries. */
export interface TaskLogFields {
  taskId: string;
  processorType: string;
  attempt: number;
  device: string | null;
  [key: string]: unknown;
}

/**
 * Logs what the runners do, as the seed does ("tasks are logged with structured
 * information"): runner start and stop, and each task's start and end with its id, type,
 * attempt, device, duration and outcome. Failures that will be retried are logged at warn,
 * final failures and expired leases at error, both with the reason and the error message.
 * Built on `upkeep.events`, so it sees every runner of that `Upkeep`. Returns a function
 * that detaches it.
 */
export function attachLifecycleLogger(events: UpkeepEvents, logger: HostLogger | UpkeepLogger, options: LifecycleLoggerOptions = {}): () => void {
  const log = toUpkeepLogger(logger as HostLogger, options.style ? { style: options.style } : {});
  const level = options.level ?? 'info';
  const now = options.now ?? Date.now;
  const startedAt = new Map<string, number>();
  // Lines at `level` (info by default) are skipped before anything is built when the logger
  // says it drops them (the default consoleLogger('warn') does): asked per line, so a level
  // changed at runtime counts. Start times are still kept for the warn/error lines' durations.
  const off = () => log.isLevelEnabled?.(level) === false;
  const fields = (task: MaintenanceTask, attempt = task.attempts): TaskLogFields => ({
    taskId: task.id,
    processorType: task.processorType,
    attempt,
    device: task.assignedDevice ?? null,
  });
  const durationOf = (task: MaintenanceTask, reported?: number): number | null => {
    const began = startedAt.get(task.id);
    startedAt.delete(task.id);
    if (reported !== undefined) return reported;
    return began === undefined ? null : Math.max(0, now() - began);
  };
  const label = (task: MaintenanceTask) => `task ${task.id} (${task.processorType})`;
  const took = (ms: number | null) => (ms === null ? '' : ` after ${ms} ms`);

  const handlers = {
    'runner:started': ({ runnerId, concurrency, processorTypes }) => {
      if (off()) return;
      log[level](`runner ${runnerId} started (concurrency ${concurrency}; ${processorTypes.length} processor types)`, { runnerId, concurrency, processorTypes });
    },
    'runner:stopped': ({ runnerId, handedBack }) => {
      if (off()) return;
      log[level](`runner ${runnerId} stopped (${handedBack} tasks handed back)`, { runnerId, handedBack });
    },
    'task:started': ({ task, runnerId, attempt }) => {
      startedAt.set(task.id, now());
      if (off()) return;
      log[level](`${label(task)} started: attempt ${attempt} of ${task.maxAttempts} on ${task.assignedDevice ?? 'no device'}`, { ...fields(task, attempt), maxAttempts: task.maxAttempts, runnerId });
    },
    'task:completed': ({ task, durationMs }) => {
      if (off()) return void startedAt.delete(task.id);
      const ms = durationOf(task, durationMs);
      log[level](`${label(task)} completed${took(ms)}`, { ...fields(task), durationMs: ms, outcome: 'completed' });
    },
    'task:failed': ({ task, error, reason, willRetry, retryAt }) => {
      const ms = durationOf(task);
      const meta = { ...fields(task), durationMs: ms, outcome: 'failed', reason, willRetry, error: error.message, errorName: error.name, ...(error.code ? { errorCode: error.code } : {}) };
      if (willRetry) log.warn(`${label(task)} failed (${reason})${took(ms)}: ${error.message}; retry at ${retryAt?.toISOString() ?? 'once due'}`, { ...meta, retryAt: retryAt?.toISOString() ?? null });
      else log.error(`${label(task)} failed (${reason})${took(ms)}: ${error.message}; no attempts left`, meta);
    },
    'task:cancelled': ({ task, reason, by }) => {
      const ms = durationOf(task);
      log.warn(`${label(task)} cancelled by ${by} (${reason})${took(ms)}`, { ...fields(task), durationMs: ms, outcome: 'cancelled', reason, by });
    },
    'task:paused': ({ task }) => {
      if (off()) return void startedAt.delete(task.id);
      const ms = durationOf(task);
      log[level](`${label(task)} paused${took(ms)}`, { ...fields(task), durationMs: ms, outcome: 'paused' });
    },
    'task:released': ({ task, reason }) => {
      if (off()) return void startedAt.delete(task.id);
      const ms = durationOf(task);
      log[level](`${label(task)} handed back (${reason})${took(ms)}`, { ...fields(task), durationMs: ms, outcome: 'released', reason });
    },
    'task:lease-expired': ({ task, previousRunner, requeued }) => {
      const ms = durationOf(task);
      log.error(`${label(task)}: lease of runner ${previousRunner ?? '?'} expired; ${requeued ? 'requeued' : 'failed'}`, { ...fields(task), durationMs: ms, outcome: 'lease-expired', previousRunner, requeued });
    },
  } satisfies { [E in Parameters<UpkeepEvents['on']>[0]]?: Parameters<typeof events.on<E>>[1] };

  for (const [event, handler] of Object.entries(handlers)) events.on(event as never, handler as never);
  return () => {
    for (const [event, handler] of Object.entries(handlers)) events.off(event as never, handler as never);
    startedAt.clear();
  };
}

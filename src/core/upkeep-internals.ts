import type { UpkeepEventMap, UpkeepEventName } from '../events/event-map';
import type { EventRecorder } from '../events/event-recorder';
import type { UpkeepEvents } from '../events/upkeep-events';
import { toEventRow } from '../events/persisted-events';
import type { ProcessorRegistry } from '../processor/processor-registry';
import type { TaskStore } from '../store/task-store';
import type { RunnerRegistryStore } from '../store/runner-registry-store';
import type { UpkeepLogger } from './logger';
import type { UpkeepSettings } from './settings';
import type { CompiledSchedule } from '../runner/schedules';
import type { RetentionOptions } from './retention';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import type { MaintenanceTaskProcessor } from '../processor/maintenance-task-processor';
import type { DeviceInfo, DeviceProbe } from '../pool/device';
import type { PoolStats } from '../pool/types';

/** What metrics need of a pool: any `ServicePool<T>`. */
export interface PoolStatsSource {
  stats(): PoolStats;
}

/** What the facade shares with runners and helpers. @internal */
export class UpkeepInternals {
  /** Wakes local runners when this process enqueues due work. */
  readonly wakeListeners = new Set<() => void>();
  /** Local runners, for instant cancel/pause of tasks they run. */
  readonly localRunners = new Set<{ interrupt(taskId: string, action: 'cancel' | 'pause'): boolean }>();

  /** Cron schedules every runner ticks. */
  schedules: CompiledSchedule[] = [];
  /** Retention policy runners apply (undefined: keep everything). */
  retention: (RetentionOptions & { intervalMs: number; batchSize: number }) | undefined;
  /** Enqueues tasks through the facade (validation, events, wake-up). */
  enqueue!: (
    items: Array<{ processor: MaintenanceTaskProcessor; uniqueKey?: string; startAt?: Date; priority?: number; maxAttempts?: number; timeoutMs?: number }>,
  ) => Promise<Array<{ task: MaintenanceTask; created: boolean }>>;
  /** Devices runners place tasks on (default: detected). */
  devices: DeviceInfo[] | DeviceProbe | undefined;
  /** Pools used by this process's tasks (for metrics). */
  readonly pools = new Set<PoolStatsSource>();
  /** The store runners use: on SQLite it waits for a host's open transaction instead of joining it. */
  runnerStore!: TaskStore;
  /** The runner registry (`upkeep_runners`) on the runners' connection. */
  runnerRegistry!: RunnerRegistryStore;
  /** Host services handed to processors as `ctx.services`. */
  services: Readonly<Record<string, unknown>> = Object.freeze({});
  /** Prunes by the retention policy. */
  prune!: () => Promise<unknown>;
  /** The active trace context (W3C `traceparent`) `createTask` stores with a task; set by `instrumentUpkeep`. */
  currentTraceContext: (() => string | null) | undefined;

  constructor(
    readonly store: TaskStore,
    readonly registry: ProcessorRegistry,
    readonly settings: UpkeepSettings,
    readonly events: UpkeepEvents,
    readonly recorder: EventRecorder,
    readonly logger: UpkeepLogger,
    readonly clock: () => Date = () => new Date(),
  ) {}

  now(): Date {
    return this.clock();
  }

  /** Emits an event and, when enabled, queues its `task_events` row. */
  publish<E extends UpkeepEventName>(event: E, payload: UpkeepEventMap[E]): void {
    const persist = this.settings.persistEvents;
    if (persist) {
      const row = toEventRow(event, payload, this.now());
      if (row && (persist === true || persist.includes(row.eventType))) this.recorder.record(row);
    }
    this.events.emit(event, payload);
  }

  wake(): void {
    for (const wake of this.wakeListeners) wake();
  }
}

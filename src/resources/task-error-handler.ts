import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import type { JsonValue } from '../entities/maintenance-task.entity';
import type { UpkeepEventMap } from '../events/event-map';
import type { MaintenanceTaskProcessor } from '../processor/maintenance-task-processor';
import { serializeProcessor } from '../processor/serialization';
import { isOutOfMemoryError, processMemoryMb } from './out-of-memory';

/** What to do after an out-of-memory failure. */
export interface OomDecision {
  /** `retry` on the same routing, `cpu_fallback` (retry routed to the CPU), or `give_up`. */
  action: 'retry' | 'cpu_fallback' | 'give_up';
  /** Factor the processor's batch was multiplied by (1 when it has no `reduceMemory`). */
  batchFactor: number;
  /** New `processor_json` after `reduceMemory`, when it changed. */
  processorJson?: string;
  /** Device the retry is routed to (`cpu` on fallback). */
  routeDevice?: string;
  /** Memory state recorded at the failure. */
  memory: Record<string, JsonValue>;
}

/** Options of {@link TaskErrorHandler}. */
export interface TaskErrorHandlerOptions {
  /** Multiplier applied to the batch size before the retry (settings.retry.memoryReductionFactor). */
  memoryReductionFactor: number;
  /** Retry on the CPU when a GPU task ran out of memory. */
  cpuFallback: boolean;
  /** Where `task:oom` and `alert` go. */
  emit: <E extends 'task:oom' | 'alert'>(event: E, payload: UpkeepEventMap[E]) => void;
}

/**
 * The second seed's memory-based error recovery: recognises out-of-memory failures, records
 * the memory state, falls back to the CPU when configured, shrinks the processor's batch
 * (processors opt in with `reduceMemory(factor)`), and raises an alert for monitoring.
 * The runner retries with the decision, or fails the task with `OUT_OF_MEMORY` when it is
 * out of attempts.
 */
export class TaskErrorHandler {
  constructor(private readonly options: TaskErrorHandlerOptions) {}

  /** True when `error` is an out-of-memory failure (see `isOutOfMemoryError`). */
  isOutOfMemoryError(error: unknown): boolean {
    return isOutOfMemoryError(error);
  }

  /**
   * Decides how to recover from an out-of-memory failure of `task` (whose `attempts` counts
   * the failed attempt) and emits `task:oom` and `alert`.
   */
  handleOomError(
    task: MaintenanceTask,
    context: { error: unknown; device: string | null; processor?: MaintenanceTaskProcessor; deviceFreeMb?: number | null },
  ): OomDecision {
    const memory: Record<string, JsonValue> = {
      ...processMemoryMb(),
      device: context.device,
      deviceFreeMb: context.deviceFreeMb ?? null,
      estimatedMemoryMb: task.estimatedMemoryMb,
      attempt: task.attempts,
      error: context.error instanceof Error ? context.error.message : String(context.error),
    };
    const outOfAttempts = task.attempts >= task.maxAttempts;
    let batchFactor = 1;
    let processorJson: string | undefined;
    if (!outOfAttempts && context.processor?.reduceMemory) {
      try {
        const before = serializeProcessor(context.processor);
        context.processor.reduceMemory(this.options.memoryReductionFactor);
        const after = serializeProcessor(context.processor);
        if (after !== before) {
          batchFactor = this.options.memoryReductionFactor;
          processorJson = after;
        }
      } catch {
        // reduceMemory threw or left props JSON cannot hold: retry with the stored props.
      }
    }
    const onGpu = context.device !== null && context.device !== 'cpu';
    const action: OomDecision['action'] = outOfAttempts ? 'give_up' : onGpu && this.options.cpuFallback ? 'cpu_fallback' : 'retry';
    const decision: OomDecision = { action, batchFactor, processorJson, routeDevice: action === 'cpu_fallback' ? 'cpu' : undefined, memory };
    this.options.emit('task:oom', { taskId: task.id, device: context.device, memory, action, batchFactor });
    this.options.emit('alert', {
      severity: outOfAttempts ? 'critical' : 'warning',
      kind: 'out_of_memory',
      message: outOfAttempts
        ? `Task ${task.id} (${task.processorType}) ran out of memory on ${context.device ?? 'its device'} and is out of attempts`
        : `Task ${task.id} (${task.processorType}) ran out of memory on ${context.device ?? 'its device'}; retrying${action === 'cpu_fallback' ? ' on the CPU' : ''}${batchFactor < 1 ? ` with its batch x${batchFactor}` : ''}`,
      taskId: task.id,
      details: memory,
    });
    return decision;
  }
}

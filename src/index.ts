// Public API of the core. Named exports only; nothing here loads an optional peer.
export { Upkeep } from './core/upkeep';
export type { UpkeepOptions, CreateTaskOptions, CreateTaskItem, RunDueResult } from './core/upkeep';
export { createMaintenanceTask } from './core/create-maintenance-task';
export { resolveSettings, UpkeepSettings, RetrySettings } from './core/settings';
export type { UpkeepSettingsInput, UpkeepYamlSettings } from './core/settings';
export { TaskStatus, TaskFailureReason, TASK_TRANSITIONS, FINISHED_STATUSES, canTransition } from './core/status';
export { consoleLogger, toUpkeepLogger, childLogger, detectLoggerStyle } from './core/logger';
export type { UpkeepLogger, LoggerStyle, HostLogger, ToUpkeepLoggerOptions } from './core/logger';
export { attachLifecycleLogger } from './core/lifecycle-logger';
export type { LifecycleLoggerOptions, TaskLogFields } from './core/lifecycle-logger';
export type { UpkeepCliConfig } from './cli/load-config';
export * from './core/errors';

export { MaintenanceTaskProcessor } from './processor/maintenance-task-processor';
export type { ProcessorProps, ProcessorClass, ResourceRequest } from './processor/maintenance-task-processor';
export { Processor } from './processor/processor.decorator';
export { getProcessorMetadata, PROCESSOR_METADATA } from './processor/processor-metadata';
export type { ProcessorOptions, ProcessorMetadata } from './processor/processor-metadata';
export { ProcessorRegistry } from './processor/processor-registry';
export type { RegisteredProcessor } from './processor/processor-registry';

export { MaintenanceTask, TaskMetric, TaskEvent, TaskDependency, UPKEEP_ENTITIES } from './entities';
export type { JsonValue, TaskInfo, TaskRunnerInfo } from './entities';
export { UPKEEP_MIGRATIONS, UpkeepInit1764300000000, UpkeepRunners1764400000000, UpkeepTraceContext1764800000000, UpkeepRunnerInfo1764900000000 } from './migrations';

export { MaintenanceTaskRunner } from './runner/maintenance-task-runner';
export type { RunnerStats, StopOptions } from './runner/maintenance-task-runner';
export type { RunnerOptions } from './runner/runner-options';
export type { RunnerInfo } from './store/runner-registry-store';
export type { TaskContext } from './runner/task-context';
export { retryDelayMs } from './runner/backoff';

export { UpkeepEvents } from './events/upkeep-events';
export { TaskEventType } from './events/event-map';
export type { UpkeepEventMap, UpkeepEventName, EventError } from './events/event-map';
export { IteratingProcessor } from './processor/iterating-processor';
export type { CursorItem, IterationResult } from './processor/iterating-processor';
export type { ScheduleDefinition, CatchUpPolicy } from './runner/schedules';
export { stopOnSignals } from './runner/signals';
export type { StopOnSignalsOptions } from './runner/signals';
export type { RetentionOptions, PruneResult } from './core/retention';

// Pools and devices: everything src/pool/index.ts makes public.
export * from './pool';
export { TaskErrorHandler } from './resources/task-error-handler';
export type { OomDecision, TaskErrorHandlerOptions } from './resources/task-error-handler';
export { isOutOfMemoryError } from './resources/out-of-memory';
export { toPrometheus as metricsToPrometheus } from './metrics/prometheus';
export type { UpkeepMetrics, TaskHealth } from './metrics/metrics-types';
export * from './queue';
export type { PoolStatsSource } from './core/upkeep-internals';

// Admin API: framework-agnostic handler (adapters live in upkeep/express, upkeep/fastify, upkeep/nestjs).
export * from './admin';
export { Sensitive, MASK as SENSITIVE_MASK } from './processor/sensitive';

export { ANY_DEVICE, TaskQueue } from './task-queue';
export type { QueuedTaskInfo, RequeueOptions, TaskQueueOptions, TaskQueueStats } from './task-queue';

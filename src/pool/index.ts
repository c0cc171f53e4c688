export { ServicePool } from './service-pool';
export { detectDevices, parseNvidiaSmi } from './detect-devices';
export type { DetectDevicesOptions } from './detect-devices';
export { SERVICE_POOL_DEFAULTS } from './pool-options';
export type { DeviceInfo, DeviceKind, DeviceProbe } from './device';
export type {
  AcquireOptions,
  CreateContext,
  DestroyReason,
  DeviceCandidate,
  DeviceLimits,
  DeviceSelector,
  DeviceStats,
  PoolCloseOptions,
  PoolState,
  PoolStats,
  PoolTotals,
  ServiceFactory,
  ServiceLease,
  ServicePoolEventName,
  ServicePoolEvents,
  ServicePoolOptions,
} from './types';

import { UpkeepError } from './upkeep-error';

/** The requested device is unknown, unhealthy, or has no room and CPU fallback is off. */
export class DeviceUnavailableError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DEVICE_UNAVAILABLE', message, options);
    this.name = 'DeviceUnavailableError';
  }
}

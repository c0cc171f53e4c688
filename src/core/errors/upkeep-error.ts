/**
 * Every stable error code the library uses. Codes never change meaning once released;
 * match on `code`, not on the message or the class name.
 */
export type UpkeepErrorCode =
  | 'INVALID_SETTINGS'
  | 'INVALID_ARGUMENT'
  | 'PROCESSOR_VALIDATION'
  | 'PROCESSOR_REGISTRATION'
  | 'UNKNOWN_PROCESSOR'
  | 'UNRECOVERABLE'
  | 'TASK_NOT_FOUND'
  | 'ILLEGAL_TRANSITION'
  | 'TIMEOUT'
  | 'CANCELLED'
  | 'INTERRUPTED'
  | 'RESULT_NOT_SERIALIZABLE'
  | 'POOL_EXHAUSTED'
  | 'POOL_CLOSED'
  | 'POOL_INVALID_RELEASE'
  | 'DEVICE_UNAVAILABLE'
  | 'OUT_OF_MEMORY'
  | 'MEMORY_LIMIT_EXCEEDED'
  | 'MISSING_PEER_DEPENDENCY'
  | 'UNSUPPORTED_DATABASE'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'ROUTE_NOT_FOUND'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'RATE_LIMITED';

/** Base class of every error upkeep throws; carries a stable `code`. */
export class UpkeepError extends Error {
  /** Stable, machine-readable error code. */
  readonly code: UpkeepErrorCode;
  /** Marker used by {@link isUpkeepError}; survives duplicated module copies. */
  readonly isUpkeepError = true as const;

  constructor(code: UpkeepErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'UpkeepError';
  }
}

/** True when `error` was thrown by upkeep (any subclass, any copy of the module). */
export function isUpkeepError(error: unknown): error is UpkeepError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { isUpkeepError?: unknown }).isUpkeepError === true &&
    typeof (error as { code?: unknown }).code === 'string'
  );
}

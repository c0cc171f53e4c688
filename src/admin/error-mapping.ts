import { isUpkeepError, type UpkeepErrorCode } from '../core/errors';
import type { AdminResponse } from './admin-types';

/** The one table from `UpkeepError` code to HTTP status; codes not listed answer 500. */
export const ERROR_STATUS: Readonly<Partial<Record<UpkeepErrorCode, number>>> = {
  INVALID_ARGUMENT: 400,
  PROCESSOR_VALIDATION: 400,
  INVALID_SETTINGS: 400,
  UNKNOWN_PROCESSOR: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  TASK_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  ILLEGAL_TRANSITION: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  DEVICE_UNAVAILABLE: 409,
  POOL_EXHAUSTED: 503,
};

/** Body of every error answer. */
export interface AdminErrorBody {
  /** Stable code (`TASK_NOT_FOUND`, `FORBIDDEN`, ...; `INTERNAL` for anything unexpected). */
  code: string;
  /** Readable message (never a stack, SQL text or file path). */
  message: string;
  /** Structured details: every failing property (validation), the current status (illegal transition), the missing permission (403). */
  details?: unknown;
}

const json = { 'content-type': 'application/json; charset=utf-8' };

/** The answer to an error: mapped statuses for upkeep's errors; a bare 500 for the rest. */
export function errorResponse(error: unknown, requestId: string): { response: AdminResponse; expected: boolean } {
  const headers = { ...json, 'x-request-id': requestId };
  const status = isUpkeepError(error) ? ERROR_STATUS[error.code] : undefined;
  if (!isUpkeepError(error) || status === undefined) {
    return { response: { status: 500, headers, body: { code: 'INTERNAL', message: `Internal error (request ${requestId})` } }, expected: false };
  }
  const body: AdminErrorBody = { code: error.code, message: error.message };
  const e = error as unknown as Record<string, unknown>;
  if (Array.isArray(e.problems)) body.details = e.problems;
  else if (error.code === 'ILLEGAL_TRANSITION') body.details = { taskId: e.taskId, currentStatus: e.from, requestedStatus: e.to };
  else if (error.code === 'FORBIDDEN' && e.permission) body.details = { permission: e.permission };
  else if (Array.isArray(e.issues)) body.details = e.issues;
  if (error.code === 'RATE_LIMITED' && typeof e.retryAfterS === 'number') headers['retry-after' as keyof typeof headers] = String(Math.ceil(e.retryAfterS));
  return { response: { status, headers, body }, expected: true };
}

/** A JSON answer. */
export function jsonResponse(body: unknown, status = 200, extra: Record<string, string> = {}): AdminResponse {
  return { status, headers: { ...json, ...extra }, body };
}

/// <reference lib="dom" />
// The admin API as the dashboard sees it: JSON over fetch, relative to the mount point.
// The page's <base href> is `<mount>/dashboard/`, so the API is one level up.

/** Where the admin API is mounted, as an absolute URL ending in `/`. */
export const API_BASE = new URL('../', document.baseURI).href;
/** The dashboard's own base path (`/admin/dashboard/`). */
export const DASH_BASE = new URL('./', document.baseURI).pathname;

export type TaskStatus = 'INACTIVE' | 'PENDING' | 'WORKING' | 'COMPLETED' | 'ERROR' | 'PAUSED' | 'CANCELLED';
export const STATUSES: readonly TaskStatus[] = ['PENDING', 'WORKING', 'INACTIVE', 'PAUSED', 'COMPLETED', 'ERROR', 'CANCELLED'];
export type TaskAction = 'start' | 'cancel' | 'pause' | 'resume' | 'retry' | 'reset';
export const ACTIONS: readonly TaskAction[] = ['start', 'cancel', 'pause', 'resume', 'retry', 'reset'];

export interface TaskSummary {
  id: string;
  status: TaskStatus;
  type: string;
  priority: number;
  attempts: number;
  maxAttempts: number;
  createdAt: string;
  updatedAt: string;
  startAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  failureReason: string | null;
  lastError: string | null;
  device: string | null;
  uniqueKey: string | null;
  progress: { done: number | null; total: number | null };
  control: string | null;
}

export interface TaskDetail extends TaskSummary {
  props: Record<string, unknown>;
  /** The processor's returned object on COMPLETED; `{ error, errorName, errorCode?, attempt }` after a failure. */
  info: Record<string, unknown> | null;
  /** What the runner recorded: attempts, placement, oom. */
  runnerInfo: Record<string, unknown> | null;
  errorHistory: Array<{ attempt: number; at: string; reason: string; message: string }>;
  lastErrorDetail: { name: string; message: string; code: string | null; attempt: number | null } | null;
  timeoutMs: number | null;
  lockedBy: string | null;
  leaseExpiresAt: string | null;
  dependsOnCount: number;
  estimatedMemoryMb: number | null;
  actualMemoryMb: number | null;
  serviceInstanceId: string | null;
  resourceCleanupCompleted: boolean;
  /** Present when the API reports dependencies (ids this task waits for, and tasks waiting for it). */
  dependsOn?: string[];
  dependents?: string[];
}

export interface TaskPage {
  items: TaskSummary[];
  nextCursor: string | null;
  total: number | null;
  totalCapped?: boolean;
}

export interface TaskEventView {
  id: number;
  taskId: string | null;
  type: string;
  timestamp: string;
  details: Record<string, unknown> | null;
}

export interface MetricSample {
  id: number;
  timestamp: string;
  memoryUsageMb: number | null;
  device: string | null;
  processingStage: string | null;
}

export interface SeedMetrics {
  active_tasks: { total: number; by_type: Record<string, number>; by_device: Record<string, number> };
  queued_tasks: { total: number; due?: number; scheduled?: number; by_type?: Record<string, number>; local?: number };
  memory_by_device: Record<string, { estimated_mb: number; pool_reserved_mb: number; total_mb: number | null; free_mb: number | null }>;
  pool_utilization: Record<string, { utilization: number; by_device: Record<string, number>; waiting: number; size: number }>;
  average_wait_time: number | null;
  status_counts?: Partial<Record<TaskStatus, number>>;
  generated_at?: string;
}

export interface ProcessorView {
  type: string;
  className: string;
  options: Record<string, unknown>;
  propsSchema: JsonSchema;
  sensitive: string[];
}

export type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  [key: string]: unknown;
};

export interface RunnerView {
  id: string;
  host?: string;
  pid?: number;
  concurrency?: number;
  inFlight?: number;
  lastHeartbeatAt: string | null;
  [key: string]: unknown;
}

export interface ScheduleView {
  name: string;
  cron: string;
  timezone: string | null;
  catchUp: string;
  nextOccurrence: string | null;
}

export interface BulkResult {
  action: string;
  results: Array<{ id: string; ok: boolean; status: string | null; error?: { code: string; message: string } }>;
  succeeded: number;
  failed: number;
  truncated: boolean;
}

/** One failing field of a 400, as the dashboard shows it next to the field. */
export interface FieldProblem {
  property: string;
  message: string;
}

/** An error answer of the admin API (or a network failure), with a readable message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** Every failing property of a validation error, flattened to `{ property, message }`. */
  get fieldProblems(): FieldProblem[] {
    if (!Array.isArray(this.details)) return [];
    return this.details.flatMap((d: { property?: string; message?: string; constraints?: Record<string, string> }) => {
      if (!d || typeof d.property !== 'string') return [];
      if (d.constraints) return [{ property: d.property, message: Object.values(d.constraints).join('; ') }];
      return [{ property: d.property, message: d.message ?? 'is invalid' }];
    });
  }
}

/** A message a person reads, for any error the dashboard meets. */
export function readableError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 401) return 'You are not signed in to the admin API (401). Sign in to the host application and reload.';
    if (error.status === 403) {
      const permission = (error.details as { permission?: string } | undefined)?.permission;
      return `Not allowed: your role lacks the permission ${permission ? `"${permission}"` : 'for this action'}.`;
    }
    if (error.status === 409) {
      const current = (error.details as { currentStatus?: string } | undefined)?.currentStatus;
      return `${error.message}${current && !error.message.includes(current) ? ` (the task is ${current} now)` : ''}`;
    }
    if (error.status === 429) return 'Too many requests: wait a moment and try again.';
    return error.message;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

type Query = Record<string, string | number | boolean | string[] | undefined | null>;

/** Builds a URL of the admin API from a path relative to the mount point and a query. */
export function apiUrl(path: string, query: Query = {}): string {
  const url = new URL(path.replace(/^\//, ''), API_BASE);
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) {
      if (value.length) url.searchParams.set(key, value.join(','));
    } else url.searchParams.set(key, String(value));
  }
  return url.href;
}

/** Calls the admin API; resolves to the JSON body, rejects with an {@link ApiError}. */
export async function api<T>(path: string, init: { method?: 'GET' | 'POST'; query?: Query; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(apiUrl(path, init.query), {
      method: init.method ?? 'GET',
      headers: { accept: 'application/json', ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: init.body !== undefined ? JSON.stringify(init.body) : null,
      credentials: 'same-origin',
      ...(init.signal ? { signal: init.signal } : {}),
    });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError(0, 'NETWORK', 'Cannot reach the admin API: check your connection or the server.');
  }
  const text = await res.text();
  let body: unknown = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const b = (body ?? {}) as { code?: string; message?: string; details?: unknown };
    throw new ApiError(res.status, b.code ?? `HTTP_${res.status}`, b.message ?? `The admin API answered ${res.status} ${res.statusText}`, b.details);
  }
  return body as T;
}

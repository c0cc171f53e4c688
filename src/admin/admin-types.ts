import type { MaintenanceTask } from '../entities/maintenance-task.entity';

/** A request as any HTTP framework can describe it; `createAdminHandler` turns it into an {@link AdminResponse}. */
export interface AdminRequest {
  /** HTTP method, any case. */
  method: string;
  /** Path relative to where the admin API is mounted, e.g. `/tasks/metrics` (a query string here is ignored). */
  path: string;
  /** Query parameters (repeated keys as arrays). */
  query?: Record<string, string | string[] | undefined>;
  /** Request headers; names are matched case-insensitively. */
  headers?: Record<string, string | string[] | undefined>;
  /**
   * The body: a string or bytes as received (checked against `maxBodyBytes` and parsed as JSON),
   * or a value a framework already parsed. `undefined` when there is none.
   */
  body?: unknown;
  /** Where the admin API is mounted (e.g. `/admin`), so links in the dashboard and OpenAPI document resolve. */
  mountPath?: string;
  /** Aborted when the client goes away (ends event streams). */
  signal?: AbortSignal;
  /** The framework's own request object, for `authorize` (e.g. an Express `req`). */
  raw?: unknown;
}

/** What the admin API answers: a JSON body, a text body, or an event stream. */
export interface AdminResponse {
  /** HTTP status. */
  status: number;
  /** Response headers (lower-case names). */
  headers: Record<string, string>;
  /** JSON-serialisable body (or a string for text responses). */
  body?: unknown;
  /**
   * Server-Sent Events, one chunk per event; iterate it and write each chunk. Call `return()`
   * on its iterator (a `for await` loop does on `break`) when the client disconnects.
   */
  stream?: AsyncIterable<string>;
}

/** A built-in role: `viewer` reads, `operator` also starts/cancels/pauses/resumes/retries, `admin` does everything. */
export type AdminRole = 'viewer' | 'operator' | 'admin';

/** Who is calling, as `authorize` returned it. Extra fields are kept and passed to `policy`. */
export interface AdminPrincipal {
  /** Stable id of the caller, stored as the actor of audit entries. */
  id?: string;
  /** The first seed's flag: `true` may do everything under the default policy. */
  admin?: boolean;
  /** Built-in roles the caller holds. */
  roles?: readonly AdminRole[];
  [key: string]: unknown;
}

/** Permission names, one per kind of action; the route table says which route needs which. */
export type AdminPermission =
  | 'tasks:read'
  | 'tasks:create'
  | 'tasks:start'
  | 'tasks:cancel'
  | 'tasks:pause'
  | 'tasks:resume'
  | 'tasks:retry'
  | 'tasks:reset'
  | 'tasks:bulk'
  | 'metrics:read'
  | 'processors:read'
  | 'runners:read'
  | 'schedules:read'
  | 'audit:read'
  | 'events:read'
  | 'dashboard:read'
  | 'openapi:read';

/** Decides whether `principal` may perform `action` (on `task`, for per-task routes). Replaces the default policy. */
export type AdminPolicy = (principal: AdminPrincipal, action: AdminPermission, task?: MaintenanceTask) => boolean | Promise<boolean>;

/** Options of {@link createAdminHandler}. */
export interface AdminHandlerOptions {
  /**
   * Identifies the caller from the request: a principal, or null for 401. Required: an
   * admin API is never open by accident.
   */
  authorize: (request: AdminRequest) => AdminPrincipal | null | undefined | Promise<AdminPrincipal | null | undefined>;
  /** Replaces the default policy (`admin === true` may do everything; `roles` grant what they allow; anyone else nothing). */
  policy?: AdminPolicy;
  /** Largest request body accepted, in bytes (413 above). @defaultValue 1_048_576 */
  maxBodyBytes?: number;
  /** Most tasks one bulk action touches (`{ filter }` stops there; `{ ids }` above it is a 400). @defaultValue 1000 */
  maxBulk?: number;
  /** Optional rate limit per principal (429 above). Unset: none. */
  rateLimit?: {
    /** Requests allowed per window. */
    max: number;
    /** Window length in milliseconds. @defaultValue 60_000 */
    windowMs?: number;
  };
  /** How often event streams poll `task_events` and progress, in milliseconds. @defaultValue 250 */
  ssePollIntervalMs?: number;
  /** Keep-alive comment interval of event streams, in milliseconds. @defaultValue 15_000 */
  sseKeepAliveMs?: number;
  /** Called with every unexpected error (answered as a 500 that leaks nothing). @defaultValue logs through the Upkeep logger */
  onError?: (error: unknown, request: AdminRequest) => void;
}

/** The admin API as a function: request in, response out. */
export type AdminHandler = (request: AdminRequest) => Promise<AdminResponse>;

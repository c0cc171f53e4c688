import type { Upkeep } from '../core/upkeep';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import type { AdminHandlerOptions, AdminPermission, AdminPolicy, AdminPrincipal, AdminRequest, AdminResponse } from './admin-types';
import type { JsonSchema } from './props-schema';
import type { QueryParam } from './validate';

/** What a route handler receives. */
export interface RouteContext {
  /** The Upkeep instance served. */
  upkeep: Upkeep;
  /** The request as received. */
  request: AdminRequest;
  /** Path parameters (`:id`, `:action`). */
  params: Record<string, string>;
  /** Validated query. */
  query: Record<string, unknown>;
  /** Parsed and validated body. */
  body: unknown;
  /** Who is calling (from `authorize`). */
  principal: AdminPrincipal;
  /** The `x-request-id` of this request (given or generated). */
  requestId: string;
  /** The handler's options with defaults applied. */
  options: Required<Pick<AdminHandlerOptions, 'maxBulk' | 'ssePollIntervalMs' | 'sseKeepAliveMs'>> & AdminHandlerOptions;
  /** Checks a permission against the policy (per task when given); throws 403. */
  allow(action: AdminPermission, task?: MaintenanceTask): Promise<void>;
  /** The policy in force (the default one unless `policy` was given). */
  policy: AdminPolicy;
  /** Hands an unexpected error to `onError` (for errors a route answers without failing, e.g. one task of a bulk action). */
  reportError(error: unknown): void;
  /** Loads a task by id; 404 when missing, 403 when the policy denies the route's permission on it. */
  task(id: string): Promise<MaintenanceTask>;
}

/** One row of the route table: everything the handler, the docs and the OpenAPI document need. */
export interface AdminRoute {
  /** Stable operation name (OpenAPI `operationId`). */
  name: string;
  /** HTTP method (HEAD is served by GET routes). */
  method: 'GET' | 'POST';
  /** Path pattern relative to the mount point; `:name` segments are parameters, a trailing `*` matches the rest. */
  path: string;
  /** Permission the route needs; `null`: any signed-in principal (only `GET /me`, which says what the caller may do). */
  permission: AdminPermission | null;
  /** One line for the docs. */
  summary: string;
  /** Whether the route changes tasks (audited). */
  mutating?: boolean;
  /** Query parameters accepted (anything else is a 400). */
  query?: Record<string, QueryParam>;
  /** JSON Schema of the body (POST). */
  body?: JsonSchema;
  /** JSON Schema of a 200 answer. */
  response: JsonSchema;
  /** Non-JSON media types the route can answer with. */
  produces?: string[];
  /** Error statuses the route can answer besides 401/403/429. */
  errors: number[];
  /** Serves the route. */
  handler: (ctx: RouteContext) => Promise<AdminResponse>;
}

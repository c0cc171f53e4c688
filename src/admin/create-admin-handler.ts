import { randomUUID } from 'node:crypto';
import {
  InvalidArgumentError,
  PayloadTooLargeError,
  RateLimitedError,
  RouteNotFoundError,
  TaskNotFoundError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
} from '../core/errors';
import type { Upkeep } from '../core/upkeep';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import type { AdminHandler, AdminHandlerOptions, AdminPermission, AdminRequest, AdminResponse } from './admin-types';
import { checkPrincipal, defaultPolicy, requirePermission } from './auth';
import { errorResponse } from './error-mapping';
import type { AdminRoute, RouteContext } from './route-context';
import { ADMIN_ROUTES } from './routes';
import { badRequest, parseQuery, validateJson } from './validate';

const OPTION_KEYS = new Set(['authorize', 'policy', 'maxBodyBytes', 'maxBulk', 'rateLimit', 'ssePollIntervalMs', 'sseKeepAliveMs', 'onError']);

function headerOf(request: AdminRequest, name: string): string | undefined {
  const hit = Object.entries(request.headers ?? {}).find(([k]) => k.toLowerCase() === name)?.[1];
  return Array.isArray(hit) ? hit[0] : hit;
}

/** Splits and checks a path: no `..` or `.` segments (also percent-encoded), no NUL; segments decoded. */
function segmentsOf(path: string): string[] {
  const bare = (typeof path === 'string' ? path : '').split('?')[0]!;
  const segments = bare.split('/').filter(Boolean);
  return segments.map((raw) => {
    let s: string;
    try {
      s = decodeURIComponent(raw);
    } catch {
      throw badRequest('Invalid path', [{ property: 'path', message: 'holds a malformed percent-encoding' }]);
    }
    if (s === '..' || s === '.' || s.includes('/') || s.includes('\\') || s.includes('\0')) {
      throw badRequest('Invalid path', [{ property: 'path', message: "must not hold '.' or '..' segments, slashes inside a segment, or NUL" }]);
    }
    return s;
  });
}

function match(route: AdminRoute, method: string, segments: string[]): Record<string, string> | null {
  if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) return null;
  const pattern = route.path.split('/').filter(Boolean);
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p === '*') {
      params['*'] = segments.slice(i).join('/');
      return params;
    }
    const s = segments[i];
    if (s === undefined) return null;
    if (p.startsWith(':')) params[p.slice(1)] = s;
    else if (p !== s) return null;
  }
  return segments.length === pattern.length ? params : null;
}

/** Reads the body: size limit (413), content type (415), JSON (400). */
function readBody(request: AdminRequest, maxBytes: number): unknown {
  const raw = request.body;
  if (raw === undefined || raw === null) return undefined;
  const isBytes = typeof raw === 'string' || raw instanceof Uint8Array;
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw instanceof Uint8Array ? raw.byteLength : undefined;
  const declared = Number(headerOf(request, 'content-length'));
  if ((size !== undefined && size > maxBytes) || (Number.isFinite(declared) && declared > maxBytes)) {
    throw new PayloadTooLargeError(`The body is larger than ${maxBytes} bytes`);
  }
  if (isBytes && size === 0) return undefined;
  const type = (headerOf(request, 'content-type') ?? '').toLowerCase();
  if (!/^application\/([\w.+-]+\+)?json\b/.test(type)) {
    throw new UnsupportedMediaTypeError(`The body must be application/json (got ${type ? JSON.stringify(type.slice(0, 80)) : 'no content type'})`);
  }
  if (!isBytes) return raw;
  const text = typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badRequest('Invalid body', [{ property: 'body', message: `is not valid JSON (${(error as Error).message.slice(0, 120)})` }]);
  }
}

/**
 * Builds the framework-agnostic admin API over an {@link Upkeep}: a function from an
 * {@link AdminRequest} to an {@link AdminResponse}. Every route is in one table
 * (`GET /tasks`, `POST /tasks/:id/start`, `GET /tasks/metrics`, ... see docs/admin-api.md);
 * `authorize` identifies the caller (null: 401) and the policy decides each action (403
 * names the missing permission). Errors answer `{ code, message, details? }` and never
 * leak stacks, SQL or paths. Throws `InvalidArgumentError` without `authorize`.
 */
export function createAdminHandler(upkeep: Upkeep, options: AdminHandlerOptions): AdminHandler {
  if (!upkeep || typeof upkeep !== 'object' || !('internals' in upkeep)) throw new InvalidArgumentError('createAdminHandler(upkeep, options): upkeep must be an Upkeep instance');
  if (!options || typeof options !== 'object') throw new InvalidArgumentError('createAdminHandler(upkeep, options): options with an authorize function are required');
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) throw new InvalidArgumentError(`createAdminHandler(options): unknown option "${key}"`);
  if (typeof options.authorize !== 'function') {
    throw new InvalidArgumentError('createAdminHandler(options): authorize is required (a function from the request to a principal, or null for 401): an admin API is never open by accident');
  }
  if (options.policy !== undefined && typeof options.policy !== 'function') throw new InvalidArgumentError('createAdminHandler(options): policy must be a function');
  const positive = (name: string, value: number | undefined, fallback: number) => {
    if (value === undefined) return fallback;
    if (!Number.isInteger(value) || value < 1) throw new InvalidArgumentError(`createAdminHandler(options): ${name} must be a positive integer (got ${JSON.stringify(value)})`);
    return value;
  };
  const resolved = {
    ...options,
    maxBodyBytes: positive('maxBodyBytes', options.maxBodyBytes, 1_048_576),
    maxBulk: positive('maxBulk', options.maxBulk, 1000),
    ssePollIntervalMs: positive('ssePollIntervalMs', options.ssePollIntervalMs, 250),
    sseKeepAliveMs: positive('sseKeepAliveMs', options.sseKeepAliveMs, 15_000),
  };
  if (options.rateLimit !== undefined) {
    positive('rateLimit.max', options.rateLimit?.max, 1);
    positive('rateLimit.windowMs', options.rateLimit?.windowMs, 60_000);
  }
  const policy = options.policy ?? defaultPolicy;
  const onError = options.onError ?? ((error: unknown) => upkeep.internals.logger.error(`admin API: unexpected error: ${(error as Error)?.stack ?? String(error)}`));
  const windows = new Map<string, { start: number; count: number }>();

  const rateLimit = (key: string) => {
    const limit = options.rateLimit;
    if (!limit) return;
    const windowMs = limit.windowMs ?? 60_000;
    const now = Date.now();
    let w = windows.get(key);
    if (!w || now - w.start >= windowMs) {
      if (windows.size > 10_000) windows.clear();
      w = { start: now, count: 0 };
      windows.set(key, w);
    }
    if (++w.count > limit.max) throw new RateLimitedError(`More than ${limit.max} requests in ${windowMs} ms`, { retryAfterS: (w.start + windowMs - now) / 1000 });
  };

  return async (request: AdminRequest): Promise<AdminResponse> => {
    const given = request ? headerOf(request, 'x-request-id') : undefined;
    const requestId = given && /^[\w.:-]{1,100}$/.test(given) ? given : randomUUID();
    try {
      if (!request || typeof request !== 'object') throw new InvalidArgumentError('The admin handler needs a request object');
      const method = String(request.method ?? 'GET').toUpperCase();
      const segments = segmentsOf(request.path);
      const principal = checkPrincipal(await options.authorize(request));
      if (!principal) throw new UnauthorizedError('Authentication required');
      rateLimit(typeof principal.id === 'string' || typeof principal.id === 'number' ? String(principal.id) : 'anonymous');
      let route: AdminRoute | undefined;
      let params: Record<string, string> | null = null;
      for (const r of ADMIN_ROUTES) {
        params = match(r, method, segments);
        if (params) {
          route = r;
          break;
        }
      }
      if (!route || !params) {
        const other = ADMIN_ROUTES.some((r) => match({ ...r, method: method as AdminRoute['method'] }, method, segments));
        throw new RouteNotFoundError(other ? `${method} is not allowed on /${segments.join('/')}` : `No admin route matches ${method} /${segments.join('/')}`);
      }
      const r = route;
      const query = parseQuery(r.query, request.query ?? {});
      let body: unknown;
      if (r.method === 'POST') {
        body = readBody(request, resolved.maxBodyBytes);
        if (r.body) {
          if (body === undefined && Array.isArray(r.body.required) && r.body.required.length) throw badRequest('Invalid body', [{ property: 'body', message: 'is required' }]);
          const issues = validateJson(r.body, body ?? {}, 'body');
          if (issues.length) throw badRequest('Invalid body', issues);
        }
      }
      const allow = (action: AdminPermission, task?: MaintenanceTask) => requirePermission(policy, principal, action, task);
      const allowRoute = (task?: MaintenanceTask) => (r.permission ? allow(r.permission, task) : Promise.resolve());
      const ctx: RouteContext = {
        upkeep,
        request,
        params,
        query,
        body,
        principal,
        requestId,
        options: resolved,
        allow,
        policy,
        reportError: (error: unknown) => onError(error, request),
        task: async (id: string) => {
          const task = id && id.length <= 36 ? await upkeep.getTask(id) : null;
          if (!task) {
            await allowRoute();
            throw new TaskNotFoundError(`No task has id ${JSON.stringify(id.slice(0, 40))}`);
          }
          await allowRoute(task);
          return task;
        },
      };
      if (!r.path.includes(':id') && !(r.name === 'eventStream' && query.taskId)) await allowRoute();
      const response = await r.handler(ctx);
      const headers = { ...response.headers, 'x-request-id': requestId };
      if (method === 'HEAD') {
        // The headers of the GET, no body: an event stream is closed before it ever reads.
        await response.stream?.[Symbol.asyncIterator]().return?.();
        return { status: response.status, headers };
      }
      return { ...response, headers };
    } catch (error) {
      const { response, expected } = errorResponse(error, requestId);
      if (!expected) onError(error, request);
      return response;
    }
  };
}

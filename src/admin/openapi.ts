import type { AdminRoute } from './route-context';
import type { JsonSchema } from './props-schema';

const STATUS_TEXT: Record<number, string> = {
  400: 'Invalid request (details lists every problem)',
  401: 'No credentials (authorize returned null)',
  403: 'Missing permission (details.permission names it)',
  404: 'Unknown task or route',
  409: 'Illegal transition (details.currentStatus)',
  413: 'Body too large',
  415: 'Body is not application/json',
  429: 'Rate limit hit (Retry-After)',
};

const ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
  required: ['code', 'message'],
};

/** `/tasks/:id/start` → `/tasks/{id}/start`. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z]+)/g, '{$1}').replace(/\*$/, '{path}');
}

/** The OpenAPI 3.1 document of the admin API, built from the route table. */
export function openApiDocument(routes: readonly AdminRoute[], mountPath = ''): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const params = [...route.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    if (route.path.endsWith('*')) params.push({ name: 'path', in: 'path', required: true, schema: { type: 'string' } });
    for (const [name, q] of Object.entries(route.query ?? {})) {
      const schema: JsonSchema = q.type === 'date-time' ? { type: 'string', format: 'date-time' } : q.type === 'list' ? { type: 'string' } : { type: q.type };
      if (q.enum) schema.enum = q.type === 'list' ? undefined : q.enum;
      if (q.min !== undefined) schema.minimum = q.min;
      if (q.max !== undefined) schema.maximum = q.max;
      if (q.maxLength !== undefined) schema.maxLength = q.maxLength;
      if (q.pattern) schema.pattern = q.pattern.source;
      params.push({ name, in: 'query', required: false, schema, description: q.description } as never);
    }
    const ok: Record<string, unknown> = {};
    if (!route.produces || route.name === 'taskMetricsSnapshot') ok['application/json'] = { schema: route.response };
    for (const type of route.produces ?? []) ok[type] = { schema: { type: 'string' } };
    const responses: Record<string, unknown> = { [route.name === 'createTask' ? '201' : '200']: { description: 'OK', content: ok } };
    for (const status of [...route.errors, 401, ...(route.permission ? [403] : []), 429].sort()) {
      responses[String(status)] = { description: STATUS_TEXT[status], content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    (paths[openApiPath(route.path)] ??= {})[route.method.toLowerCase()] = {
      operationId: route.name,
      summary: route.summary,
      'x-permission': route.permission,
      ...(params.length ? { parameters: params } : {}),
      ...(route.body ? { requestBody: { required: route.name === 'createTask' || route.name === 'bulkAction', content: { 'application/json': { schema: route.body } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'upkeep admin API', version: '1', description: 'Inspect and steer maintenance tasks. Every route needs the permission in x-permission (null: any signed-in caller).' },
    servers: [{ url: mountPath || '/' }],
    paths,
    components: { schemas: { Error: ERROR_SCHEMA } },
  };
}

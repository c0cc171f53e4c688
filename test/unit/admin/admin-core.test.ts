import 'reflect-metadata';
import { ArrayMaxSize, IsArray, IsEmail, IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { ADMIN_ROUTES, ALL_PERMISSIONS, defaultPolicy, ERROR_STATUS, MaintenanceTaskProcessor, openApiDocument, Processor, propsSchemaOf, Sensitive } from '../../../src';
import { parseQuery, validateJson } from '../../../src/admin/validate';
import { maskProps, sensitiveKeysOf } from '../../../src/processor/sensitive';

@Processor('unit-schema')
class SchemaProcessor extends MaintenanceTaskProcessor {
  @IsArray() @ArrayMaxSize(100) @IsString({ each: true })
  userIds!: string[];

  @IsOptional() @IsInt() @Min(1) @Max(500)
  batchSize?: number;

  @IsIn(['fast', 'safe'])
  mode!: string;

  @IsEmail() @Matches(/@example\.com$/)
  notify!: string;

  @IsOptional() @IsString() @Sensitive()
  token?: string;

  process() {
    return null;
  }
}

@Processor('unit-schema-child')
class ChildProcessor extends SchemaProcessor {
  @IsOptional() @IsString() @Sensitive()
  password?: string;
}

describe('props JSON Schema from class-validator metadata', () => {
  it('maps types, bounds, enums, array rules, formats, patterns, optional and sensitive', () => {
    expect(propsSchemaOf(SchemaProcessor)).toEqual({
      type: 'object',
      properties: {
        userIds: { type: 'array', maxItems: 100, items: { type: 'string' } },
        batchSize: { type: 'integer', minimum: 1, maximum: 500 },
        mode: { enum: ['fast', 'safe'] },
        notify: { type: 'string', format: 'email', pattern: '@example\\.com$' },
        token: { type: 'string', writeOnly: true },
      },
      required: ['userIds', 'mode', 'notify'],
      additionalProperties: false,
    });
  });

  it('@Sensitive() is inherited and masks only present keys', () => {
    expect([...sensitiveKeysOf(ChildProcessor)].sort()).toEqual(['password', 'token']);
    expect(sensitiveKeysOf(SchemaProcessor)).toEqual(['token']);
    expect(maskProps({ token: 'x', mode: 'fast' }, ['token', 'password'])).toEqual({ token: '[redacted]', mode: 'fast' });
  });
});

describe('default policy and roles', () => {
  it("lets the seed's admin do everything, viewers read, operators act, admins reset/create/bulk, nobody else anything", () => {
    for (const p of ALL_PERMISSIONS) expect(defaultPolicy({ admin: true }, p)).toBe(true);
    for (const p of ALL_PERMISSIONS) expect(defaultPolicy({ id: 'u' }, p)).toBe(false);
    expect(defaultPolicy({ admin: 'true' as never }, 'tasks:read')).toBe(false);
    expect(defaultPolicy({ roles: ['viewer'] }, 'tasks:read')).toBe(true);
    expect(defaultPolicy({ roles: ['viewer'] }, 'tasks:cancel')).toBe(false);
    expect(defaultPolicy({ roles: ['operator'] }, 'tasks:cancel')).toBe(true);
    expect(defaultPolicy({ roles: ['operator'] }, 'tasks:reset')).toBe(false);
    expect(defaultPolicy({ roles: ['admin'] }, 'tasks:bulk')).toBe(true);
    expect(defaultPolicy({ roles: ['superuser' as never] }, 'tasks:read')).toBe(false);
  });
});

describe('request validation', () => {
  it('reports every bad query parameter at once', () => {
    expect(() => parseQuery({ limit: { type: 'integer', min: 1, max: 500, description: '' }, from: { type: 'date-time', description: '' } }, { limit: '1e9', from: 'yesterday', x: '1' })).toThrow(
      /query.x is not a known parameter; query.limit must be an integer from 1 to 500.*; query.from must be an ISO 8601 date-time/,
    );
  });
  it('validates bodies against the route schemas', () => {
    const create = ADMIN_ROUTES.find((r) => r.name === 'createTask')!.body!;
    expect(validateJson(create, { type: 'x', options: { priority: 1.5, inactive: 'yes', when: 1 } }, 'body').map((i) => i.property)).toEqual([
      'body.options.priority',
      'body.options.inactive',
      'body.options.when',
    ]);
  });
});

describe('route table, error table and OpenAPI', () => {
  it('every route has a unique name, a permission, and appears in the OpenAPI document', () => {
    const names = ADMIN_ROUTES.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    const doc = openApiDocument(ADMIN_ROUTES) as { paths: Record<string, Record<string, { operationId: string; 'x-permission': string }>> };
    const ops = Object.values(doc.paths).flatMap((p) => Object.values(p));
    expect(ops.map((o) => o.operationId).sort()).toEqual([...names].sort());
    for (const op of ops) {
      if (op.operationId === 'me') expect(op['x-permission']).toBeNull(); // any signed-in caller may ask what it may do
      else expect(ALL_PERMISSIONS).toContain(op['x-permission']);
    }
    for (const path of ['/tasks', '/tasks/metrics', '/tasks/{id}', '/tasks/{id}/health', '/tasks/{id}/start', '/tasks/bulk/{action}', '/events', '/audit', '/openapi.json', '/dashboard', '/me']) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
  });
  it('maps the error codes to the statuses the issue names', () => {
    expect(ERROR_STATUS).toMatchObject({ INVALID_ARGUMENT: 400, PROCESSOR_VALIDATION: 400, UNAUTHORIZED: 401, FORBIDDEN: 403, TASK_NOT_FOUND: 404, ROUTE_NOT_FOUND: 404, ILLEGAL_TRANSITION: 409, PAYLOAD_TOO_LARGE: 413, UNSUPPORTED_MEDIA_TYPE: 415, RATE_LIMITED: 429 });
  });
});

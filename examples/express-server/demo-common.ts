/**
 * What the three server examples (Express, Fastify, NestJS) share: two processors, the
 * DataSource (SQLite by default, PostgreSQL or MySQL/MariaDB when DATABASE_URL is set), and a
 * demo-only `authorize`. In your app, import from 'upkeep' instead of '../../src'.
 */
import 'reflect-metadata';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { DataSource, type DataSourceOptions } from 'typeorm';
import {
  MaintenanceTaskProcessor,
  Processor,
  Sensitive,
  UPKEEP_ENTITIES,
  UPKEEP_MIGRATIONS,
  type AdminPrincipal,
  type AdminRequest,
  type MaintenanceTask,
  type TaskContext,
} from '../../src';

/** Builds a report in `steps` steps, reporting progress after each; stops at the next step when cancelled. */
@Processor('demo-report')
export class DemoReportProcessor extends MaintenanceTaskProcessor<{ steps: number }> {
  @IsInt() @Min(1) @Max(100_000)
  steps!: number;

  @IsOptional() @IsInt() @Min(0) @Max(60_000)
  stepMs?: number;

  async process(_task: MaintenanceTask, ctx: TaskContext): Promise<{ steps: number }> {
    for (let i = 1; i <= this.steps; i++) {
      await new Promise((resolve) => setTimeout(resolve, this.stepMs ?? 200));
      ctx.throwIfStopping();
      await ctx.progress(i, this.steps);
    }
    return { steps: this.steps };
  }
}

/** Deletes old rows of a (pretend) table; its API token is masked by the admin API. */
@Processor('demo-cleanup')
export class DemoCleanupProcessor extends MaintenanceTaskProcessor<{ deleted: number }> {
  @IsString() @MaxLength(64)
  table!: string;

  @IsOptional() @IsString() @MaxLength(200) @Sensitive()
  apiToken?: string;

  process(): { deleted: number } {
    return { deleted: this.table.length };
  }
}

export const DEMO_PROCESSORS = [DemoReportProcessor, DemoCleanupProcessor];

/** SQLite at `SQLITE_PATH` (default: a file in the temp folder), or the database at `DATABASE_URL`. */
export function demoDataSourceOptions(): DataSourceOptions {
  const base = { entities: [...UPKEEP_ENTITIES], migrations: [...UPKEEP_MIGRATIONS], migrationsRun: true, logging: false };
  const url = process.env.DATABASE_URL;
  if (url) {
    const type = url.startsWith('mysql') ? 'mysql' : url.startsWith('mariadb') ? 'mariadb' : 'postgres';
    return { type, url: type === 'mariadb' ? url.replace(/^mariadb:/, 'mysql:') : url, ...base } as DataSourceOptions;
  }
  return { type: 'better-sqlite3', database: process.env.SQLITE_PATH ?? join(tmpdir(), 'upkeep-example.db'), ...base } as DataSourceOptions;
}

export async function openDemoDataSource(): Promise<DataSource> {
  const dataSource = new DataSource(demoDataSourceOptions());
  await dataSource.initialize();
  return dataSource;
}

const ROLES = ['viewer', 'operator', 'admin'] as const;

/**
 * DEMO ONLY: never ship this. A real host maps its own session or token to a principal
 * (the first seed: `{ id, admin: user.admin === true }`). Here:
 * - `Authorization: Bearer <ADMIN_TOKEN>` (default `dev-admin-token`) is the seed's admin;
 * - with `UPKEEP_DEMO_AUTH=x-role`, a header `x-role: viewer|operator|admin` is a principal with that role;
 * - with `UPKEEP_DEMO_PRINCIPAL=viewer|operator|admin`, every other request is that role (for browser tests).
 */
export function demoAuthorize(request: AdminRequest): AdminPrincipal | null {
  const header = (name: string) => {
    const v = request.headers?.[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const token = process.env.ADMIN_TOKEN ?? 'dev-admin-token';
  if (header('authorization') === `Bearer ${token}`) return { id: 'admin-token', admin: true };
  if (process.env.UPKEEP_DEMO_AUTH === 'x-role') {
    const role = header('x-role');
    if (role === 'none') return { id: 'no-role' };
    if ((ROLES as readonly string[]).includes(role ?? '')) return { id: `demo-${role}`, roles: [role as (typeof ROLES)[number]] };
  }
  const fallback = process.env.UPKEEP_DEMO_PRINCIPAL;
  if (fallback && (ROLES as readonly string[]).includes(fallback)) return { id: `demo-${fallback}`, roles: [fallback as (typeof ROLES)[number]] };
  return null;
}

/** `RUNNER=off` starts no runner in the server (run `runner.ts` in another process instead). */
export const runnerEnabled = () => process.env.RUNNER !== 'off';

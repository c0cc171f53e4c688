import 'reflect-metadata';
import { IsArray, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import type { DataSource } from 'typeorm';
import { createAdminHandler, MaintenanceTaskProcessor, Processor, Sensitive, Upkeep, type AdminPrincipal, type AdminRequest, type TaskContext, type MaintenanceTask } from '../../../src';

/** Sums numbers; carries a sensitive token. */
@Processor('admin-sum')
export class AdminSumProcessor extends MaintenanceTaskProcessor<{ sum: number }> {
  @IsArray() @IsInt({ each: true })
  numbers!: number[];

  @IsOptional() @IsString() @MaxLength(100) @Sensitive()
  apiToken?: string;

  process(): { sum: number } {
    return { sum: this.numbers.reduce((a, b) => a + b, 0) };
  }
}

/** Reports progress, then waits until cancelled (or `steps` x `stepMs` pass). */
@Processor('admin-slow')
export class AdminSlowProcessor extends MaintenanceTaskProcessor<{ steps: number }> {
  @IsInt() @Min(1) @Max(10_000)
  steps!: number;

  @IsOptional() @IsInt() @Min(0)
  stepMs?: number;

  async process(_task: MaintenanceTask, ctx: TaskContext): Promise<{ steps: number }> {
    for (let i = 1; i <= this.steps; i++) {
      await new Promise((r) => setTimeout(r, this.stepMs ?? 50));
      ctx.throwIfStopping();
      await ctx.progress(i, this.steps);
    }
    return { steps: this.steps };
  }
}

/** The test principal header: `x-role: admin|operator|viewer|nobody`, `x-admin: 1`. */
export function headerAuthorize(req: AdminRequest): AdminPrincipal | null {
  const h = req.headers ?? {};
  if (h['x-admin'] === '1') return { id: 'seed-admin', admin: true };
  const role = h['x-role'];
  if (role === 'nobody') return { id: 'nobody' };
  if (role === 'admin' || role === 'operator' || role === 'viewer') return { id: `${role}-1`, roles: [role] };
  return null;
}

export function makeUpkeep(dataSource: DataSource): Upkeep {
  return new Upkeep({ dataSource, processors: [AdminSumProcessor, AdminSlowProcessor], devices: [{ id: 'cpu', kind: 'cpu', totalMemoryMb: 16_000, freeMemoryMb: 16_000, healthy: true } as never] });
}

export function makeAdmin(upkeep: Upkeep) {
  const handler = createAdminHandler(upkeep, { authorize: headerAuthorize, ssePollIntervalMs: 50 });
  return (method: string, path: string, init: { role?: string; body?: unknown; raw?: string; query?: Record<string, string>; headers?: Record<string, string> } = {}) =>
    handler({
      method,
      path,
      query: init.query ?? {},
      headers: {
        ...(init.role === 'seed-admin' ? { 'x-admin': '1' } : init.role ? { 'x-role': init.role } : {}),
        ...(init.body !== undefined || init.raw !== undefined ? { 'content-type': 'application/json' } : {}),
        ...init.headers,
      },
      body: init.raw !== undefined ? init.raw : init.body !== undefined ? JSON.stringify(init.body) : undefined,
    });
}

/**
 * `npm run example:nestjs`: a NestJS 11 app (Express platform) with `UpkeepModule.forRoot`:
 * processors found among the app's providers (built by Nest: the report processor gets a
 * service injected), a runner started and stopped with the application (unless RUNNER=off),
 * and the admin API under /admin behind a Nest guard. Env as in the Express example.
 */
import 'reflect-metadata';
import { Inject, Injectable, Module, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { IsInt, Max, Min } from 'class-validator';
import { MaintenanceTaskProcessor, Processor, type MaintenanceTask, type TaskContext } from '../../src';
import { UpkeepModule } from '../../src/integrations/nestjs'; // in your app: 'upkeep/nestjs'
import { DemoCleanupProcessor, DemoReportProcessor, demoAuthorize, openDemoDataSource, runnerEnabled } from '../express-server/demo-common';

/** A host service a processor needs. */
@Injectable()
export class Clock {
  now(): string {
    return new Date().toISOString();
  }
}

/** Counts to `upTo`, reporting progress; Nest injects the Clock (explicit @Inject: tsx emits no decorator metadata). */
@Processor('nest-count')
export class CountProcessor extends MaintenanceTaskProcessor<{ counted: number; finishedAt: string }> {
  @IsInt() @Min(1) @Max(10_000)
  upTo!: number;

  constructor(@Inject(Clock) private readonly clock: Clock) {
    super();
  }

  async process(_task: MaintenanceTask, ctx: TaskContext) {
    for (let i = 1; i <= this.upTo; i++) {
      await new Promise((r) => setTimeout(r, 100));
      ctx.throwIfStopping();
      await ctx.progress(i, this.upTo);
    }
    return { counted: this.upTo, finishedAt: this.clock.now() };
  }
}

/** A guard the admin routes pass through, as any Nest route would (here: refuses ?blocked=1). */
@Injectable()
export class AdminGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest<{ query: Record<string, string> }>().query.blocked !== '1';
  }
}

const dataSource = await openDemoDataSource();

@Module({
  imports: [
    UpkeepModule.forRoot({
      dataSource,
      processors: [DemoReportProcessor, DemoCleanupProcessor],
      runner: runnerEnabled() ? { concurrency: 4, pollIntervalMs: 200, heartbeatIntervalMs: 1000 } : false,
      admin: { path: 'admin', authorize: demoAuthorize, guards: [AdminGuard] },
    }),
  ],
  providers: [Clock, CountProcessor, AdminGuard],
})
class AppModule {}

// bodyParser off: the admin API reads and bounds raw bodies itself.
const app = await NestFactory.create(AppModule, { bodyParser: false, logger: ['error', 'warn'] });
app.enableShutdownHooks();
await app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
const { port } = app.getHttpServer().address() as AddressInfo;
console.log(`upkeep example listening on http://127.0.0.1:${port}/admin (${dataSource.options.type}, runner ${runnerEnabled() ? 'on' : 'off'})`);
process.once('beforeExit', () => void dataSource.destroy());

import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { createAdminHandler } from '../../admin/create-admin-handler';
import { InvalidArgumentError } from '../../core/errors';
import { Upkeep } from '../../core/upkeep';
import { createAdminController, UPKEEP_ADMIN_HANDLER } from './admin-controller';
import { UpkeepLifecycle } from './upkeep-lifecycle';
import { UPKEEP, UPKEEP_MODULE_OPTIONS, type UpkeepModuleAsyncOptions, type UpkeepModuleOptions, type UpkeepNestAdminOptions } from './upkeep-module-options';

function buildUpkeep(options: UpkeepModuleOptions): Upkeep {
  if (!options || typeof options !== 'object' || !options.dataSource) throw new InvalidArgumentError('UpkeepModule: options.dataSource is required');
  const { dataSource, processors: _p, runner: _r, admin: _a, ...rest } = options;
  return new Upkeep({ ...rest, dataSource, processors: [] });
}

function adminParts(admin: UpkeepNestAdminOptions | undefined, fromFactory: () => UpkeepNestAdminOptions | undefined) {
  if (!admin) return { controllers: [], providers: [] as Provider[] };
  if (typeof admin.path !== 'string') throw new InvalidArgumentError('UpkeepModule: admin.path must be a string');
  const handler: Provider = {
    provide: UPKEEP_ADMIN_HANDLER,
    inject: [UPKEEP, UPKEEP_MODULE_OPTIONS],
    useFactory: (upkeep: Upkeep, options: UpkeepModuleOptions) => {
      const { path: _path, guards: _guards, ...handlerOptions } = { ...admin, ...(options.admin ?? fromFactory() ?? {}) };
      return createAdminHandler(upkeep, handlerOptions as never);
    },
  };
  return { controllers: [createAdminController(admin.path, admin.guards ?? [], admin.maxBodyBytes ?? 1_048_576)], providers: [handler] };
}

/**
 * upkeep for NestJS: `UpkeepModule.forRoot({ dataSource, processors, admin: { path: 'admin', authorize } })`.
 * Provides the {@link Upkeep} instance (token `UPKEEP`), registers every provider carrying
 * `@Processor` metadata (built by Nest, so constructor injection works), starts a runner on
 * application bootstrap and closes it on shutdown, and serves the admin API under
 * `admin.path` with Nest guards applied.
 */
@Module({})
export class UpkeepModule {
  /** The module with options known now. */
  static forRoot(options: UpkeepModuleOptions): DynamicModule {
    const admin = adminParts(options.admin, () => undefined);
    return {
      module: UpkeepModule,
      global: true,
      imports: [DiscoveryModule],
      controllers: admin.controllers,
      providers: [
        { provide: UPKEEP_MODULE_OPTIONS, useValue: options },
        { provide: UPKEEP, inject: [UPKEEP_MODULE_OPTIONS], useFactory: buildUpkeep },
        ...(options.processors ?? []),
        UpkeepLifecycle,
        ...admin.providers,
      ],
      exports: [UPKEEP],
    };
  }

  /** The module with options built by a factory (e.g. from a ConfigService and a TypeORM DataSource). */
  static forRootAsync(options: UpkeepModuleAsyncOptions): DynamicModule {
    if (!options || typeof options.useFactory !== 'function') throw new InvalidArgumentError('UpkeepModule.forRootAsync: useFactory is required');
    const admin = adminParts(options.admin, () => undefined);
    return {
      module: UpkeepModule,
      global: true,
      imports: [DiscoveryModule, ...((options.imports ?? []) as never[])],
      controllers: admin.controllers,
      providers: [
        { provide: UPKEEP_MODULE_OPTIONS, inject: (options.inject ?? []) as never[], useFactory: options.useFactory },
        { provide: UPKEEP, inject: [UPKEEP_MODULE_OPTIONS], useFactory: buildUpkeep },
        ...(options.processors ?? []),
        UpkeepLifecycle,
        ...admin.providers,
      ],
      exports: [UPKEEP],
    };
  }
}

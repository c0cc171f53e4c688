import type { DataSource } from 'typeorm';
import type { AdminHandlerOptions } from '../../admin/admin-types';
import type { UpkeepOptions } from '../../core/upkeep';
import type { ProcessorClass } from '../../processor/maintenance-task-processor';
import type { RunnerOptions } from '../../runner/runner-options';

/** Injection token of the {@link Upkeep} instance. */
export const UPKEEP = Symbol.for('upkeep.nestjs.upkeep');
/** Injection token of the resolved module options. */
export const UPKEEP_MODULE_OPTIONS = Symbol.for('upkeep.nestjs.options');

/** Admin API of the module: routes under `path` (after any global prefix). */
export interface UpkeepNestAdminOptions extends Partial<AdminHandlerOptions> {
  /** Where the admin routes live, e.g. `admin`. */
  path: string;
  /** Nest guards (classes or instances) applied to the admin controller, besides global ones. */
  guards?: Array<Function | object>;
}

/** Options of `UpkeepModule.forRoot` (and what `forRootAsync`'s factory returns). */
export interface UpkeepModuleOptions extends Omit<UpkeepOptions, 'dataSource' | 'processors'> {
  /** An initialized TypeORM DataSource whose entities include `UPKEEP_ENTITIES`. */
  dataSource: DataSource;
  /**
   * Processor classes to add as Nest providers. Processors are also found among every
   * provider of the application by their `@Processor` metadata; Nest builds them, so
   * constructor injection works (use `@Inject(Token)` when your build emits no decorator metadata).
   */
  processors?: ProcessorClass[];
  /** Runner started on application bootstrap and stopped on shutdown; `false` for none. @defaultValue {} */
  runner?: RunnerOptions | false;
  /** The admin API (a controller under `path`); `authorize` is required when given. Unset: no routes. */
  admin?: UpkeepNestAdminOptions;
}

/** Options of `UpkeepModule.forRootAsync`. */
export interface UpkeepModuleAsyncOptions {
  /** Modules whose providers the factory injects. */
  imports?: unknown[];
  /** Tokens handed to `useFactory`. */
  inject?: unknown[];
  /** Builds the options (minus what is static below). */
  useFactory: (...args: never[]) => UpkeepModuleOptions | Promise<UpkeepModuleOptions>;
  /** Processor classes to add as providers (known before the factory runs). */
  processors?: ProcessorClass[];
  /** Admin routes: the path and guards must be known when the module is defined; `authorize` may come from the factory. */
  admin?: UpkeepNestAdminOptions;
}

import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, ModuleRef } from '@nestjs/core';
import type { Upkeep } from '../../core/upkeep';
import type { ProcessorClass } from '../../processor/maintenance-task-processor';
import { getProcessorMetadata, PROCESSOR_METADATA } from '../../processor/processor-metadata';
import type { MaintenanceTaskRunner } from '../../runner/maintenance-task-runner';
import { UPKEEP, UPKEEP_MODULE_OPTIONS, type UpkeepModuleOptions } from './upkeep-module-options';

/**
 * A subclass of a Nest-built processor whose constructor copies the instance Nest injected
 * (its dependencies), so every task's processor, built by upkeep from stored props, has them.
 * Props a processor declares must not be constructor-injected (they come from the task).
 */
function bindToNest(cls: ProcessorClass, built: object): ProcessorClass {
  const meta = getProcessorMetadata(cls)!;
  const Bound = class extends (cls as unknown as new () => object) {
    constructor() {
      super();
      // Non-enumerable: injected services are not props, so they never reach processor_json.
      for (const key of Object.keys(built)) {
        Object.defineProperty(this, key, { value: (built as Record<string, unknown>)[key], enumerable: false, writable: true, configurable: true });
      }
    }
  };
  Object.defineProperty(Bound, 'name', { value: cls.name });
  Object.defineProperty(Bound, PROCESSOR_METADATA, { value: meta, enumerable: false, configurable: true });
  return Bound as unknown as ProcessorClass;
}

/** Finds `@Processor` providers, registers them, and runs the runner with the application's lifecycle. */
@Injectable()
export class UpkeepLifecycle implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private runner: MaintenanceTaskRunner | undefined;

  constructor(
    @Inject(UPKEEP) private readonly upkeep: Upkeep,
    @Inject(UPKEEP_MODULE_OPTIONS) private readonly options: UpkeepModuleOptions,
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
  ) {}

  onModuleInit(): void {
    const seen = new Set<unknown>();
    for (const wrapper of this.discovery.getProviders()) {
      const cls = wrapper.metatype as unknown;
      if (!cls || !wrapper.instance || seen.has(cls) || !getProcessorMetadata(cls)) continue;
      seen.add(cls);
      const name = getProcessorMetadata(cls)!.name;
      if (this.upkeep.registry.get(name)) continue;
      this.upkeep.registry.register(bindToNest(cls as ProcessorClass, wrapper.instance as object));
    }
    void this.moduleRef;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.options.runner === false) return;
    this.runner = this.upkeep.createRunner(this.options.runner ?? {});
    await this.runner.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.upkeep.close();
  }
}

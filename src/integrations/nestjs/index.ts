export { UpkeepModule } from './upkeep.module';
export { UPKEEP, UPKEEP_MODULE_OPTIONS } from './upkeep-module-options';
export type { UpkeepModuleOptions, UpkeepModuleAsyncOptions, UpkeepNestAdminOptions } from './upkeep-module-options';
export { UPKEEP_ADMIN_HANDLER } from './admin-controller';

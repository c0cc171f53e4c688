import { UpkeepInit1764300000000 } from './1764300000000-upkeep-init';
import { UpkeepAdminIndexes1764350000000 } from './1764350000000-upkeep-admin-indexes';
import { UpkeepRunners1764400000000 } from './1764400000000-upkeep-runners';
import { UpkeepTraceContext1764800000000 } from './1764800000000-upkeep-trace-context';
import { UpkeepRunnerInfo1764900000000 } from './1764900000000-upkeep-runner-info';

export { UpkeepInit1764300000000, UpkeepAdminIndexes1764350000000, UpkeepRunners1764400000000, UpkeepTraceContext1764800000000, UpkeepRunnerInfo1764900000000 };

/** Every migration upkeep needs, oldest first; spread into your DataSource's `migrations`. */
export const UPKEEP_MIGRATIONS = [
  UpkeepInit1764300000000,
  UpkeepAdminIndexes1764350000000,
  UpkeepRunners1764400000000,
  UpkeepTraceContext1764800000000,
  UpkeepRunnerInfo1764900000000,
] as const;

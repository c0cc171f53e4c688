import { UpkeepInit1764300000000 } from './1764300000000-upkeep-init';

export { UpkeepInit1764300000000 };

/** Every migration upkeep needs, oldest first; spread into your DataSource's `migrations`. */
export const UPKEEP_MIGRATIONS = [UpkeepInit1764300000000] as const;

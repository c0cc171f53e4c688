import { setImmediate as nextTurn } from 'node:timers/promises';
import { ArrayMaxSize, IsArray, IsString } from 'class-validator';
import { In, LessThan, type DataSource } from 'typeorm';
import { MaintenanceTaskProcessor, Processor, UnrecoverableTaskError, type MaintenanceTask, type TaskContext } from '../../src';
import { createDefaultSettings, ORG_SETTINGS_VERSION } from './settings-store';
import { UserSettings } from './user-settings.entity';

// ---------------------------------------------------------------------------------------
// Where the processor gets its DataSource
//
// The runner rebuilds a processor from `processor_json` (class-transformer: `new Cls()`,
// then the stored props are assigned), so a processor cannot take constructor arguments.
// It must not keep the DataSource in a property either: every instance property is
// serialised into `processor_json` when the task is enqueued.
//
// So the host hands the DataSource over once, at start-up, next to `new Upkeep(...)`:
//
//     setExampleDataSource(dataSource);
//
// It is a plain module-level slot rather than a global container: one line to wire, easy
// to replace in a test, and a clear error (not a retry storm) when someone forgot it.
// A host with a DI container (NestJS, tsyringe) would resolve its repository here instead.
// ---------------------------------------------------------------------------------------

let exampleDataSource: DataSource | undefined;

/** Gives the example's processors the DataSource holding `user_settings` (call once at start-up). */
export function setExampleDataSource(dataSource: DataSource | undefined): void {
  exampleDataSource = dataSource;
}

/** The DataSource set by {@link setExampleDataSource}; throws when none is set or it is closed. */
export function getExampleDataSource(): DataSource {
  if (!exampleDataSource?.isInitialized) {
    // Unrecoverable: retrying cannot help until the host is wired correctly.
    throw new UnrecoverableTaskError('UserVersionUpgradeProcessor has no initialized DataSource: call setExampleDataSource(dataSource) at start-up');
  }
  return exampleDataSource;
}

/** What one task reports; stored as `task.info`. */
export interface UserVersionUpgradeResult {
  /** Users this task brought up to `ORG_SETTINGS_VERSION`. */
  upgraded: number;
  /** Users left alone: already current, unknown, or upgraded meanwhile by someone else. */
  skipped: number;
}

/**
 * The first seed's processor: upgrades the settings of up to 100 users per task, only those
 * whose `user_version` is below `ORG_SETTINGS_VERSION`, through `createDefaultSettings()`.
 *
 * It is safe to run twice (and to run after an interruption): users already upgraded are
 * filtered out by the query, and each upgrade is a compare-and-set on `user_version`.
 */
@Processor('user-version-upgrade')
export class UserVersionUpgradeProcessor extends MaintenanceTaskProcessor<UserVersionUpgradeResult> {
  /** Ids of the users to upgrade (at most 100, so a task stays well under a minute). */
  @IsArray() @ArrayMaxSize(100) @IsString({ each: true })
  userIds!: string[];

  async process(_task: MaintenanceTask, ctx: TaskContext): Promise<UserVersionUpgradeResult> {
    const dataSource = getExampleDataSource();
    const ids = [...new Set(this.userIds)];
    if (!ids.length) return { upgraded: 0, skipped: 0 };

    // One query picks the users that need work; the rest are skipped without a write.
    const outdated = await dataSource.getRepository(UserSettings).find({
      select: { id: true },
      where: { id: In(ids), userVersion: LessThan(ORG_SETTINGS_VERSION) },
      order: { id: 'ASC' },
    });
    ctx.progress(0, outdated.length);

    let upgraded = 0;
    for (const [index, user] of outdated.entries()) {
      // Let the event loop turn between users. better-sqlite3 answers synchronously, so
      // without this a task (and the runner around it) would never give timers a chance:
      // the timeout, a cancel or a shutdown could not abort ctx.signal, and heartbeats
      // and the runner's batched writes would wait until the whole run is over.
      await nextTurn();
      // A safe point between users: cancel, pause, timeout and shutdown stop here. What
      // was written stays written, and a later attempt skips those users.
      ctx.throwIfStopping();
      if (await createDefaultSettings(user.id, dataSource.manager)) upgraded++;
      ctx.progress(index + 1, outdated.length);
    }
    if (upgraded) ctx.logger.info(`upgraded ${upgraded} of ${ids.length} users to settings version ${ORG_SETTINGS_VERSION}`);
    return { upgraded, skipped: ids.length - upgraded };
  }
}

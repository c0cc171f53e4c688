import type { EntityManager } from 'typeorm';
import { UserSettings } from './user-settings.entity';

/**
 * Current version of the settings schema. A user whose `user_version` is below it is
 * upgraded by `createDefaultSettings()`; bump it (and add a step below) whenever the
 * defaults change, then enqueue `UserVersionUpgradeProcessor` tasks for every user.
 */
export const ORG_SETTINGS_VERSION = 4;

/** Model names that were retired, and what replaces them. */
const RENAMED_MODELS: Readonly<Record<string, string>> = {
  'gpt-4': 'gpt-4o',
  'gpt-3.5-turbo': 'gpt-4o-mini',
  'claude-2': 'claude-sonnet-4',
};

type SettingsFields = Pick<UserSettings, 'theme' | 'language' | 'llmModel' | 'maxIterations' | 'confirmationMode'>;

/**
 * One step per version: `UPGRADE_STEPS[v]` turns version `v` settings into version `v + 1`.
 * Steps are pure, so an upgrade can be tested without a database and re-running one is
 * harmless.
 */
const UPGRADE_STEPS: ReadonlyArray<(s: SettingsFields) => SettingsFields> = [
  // 0 → 1: a row that was never filled in gets the organisation's defaults.
  (s) => ({ ...s, theme: s.theme ?? 'system', language: s.language ?? 'en', llmModel: s.llmModel ?? 'claude-sonnet-4', maxIterations: s.maxIterations ?? 100 }),
  // 1 → 2: retired models are replaced.
  (s) => ({ ...s, llmModel: s.llmModel ? (RENAMED_MODELS[s.llmModel] ?? s.llmModel) : 'claude-sonnet-4' }),
  // 2 → 3: confirmation mode is introduced, on by default for everyone.
  (s) => ({ ...s, confirmationMode: true }),
  // 3 → 4: language tags are normalised (`EN_us` → `en-US`); iteration caps above 500 are lowered.
  (s) => ({ ...s, language: normaliseLanguage(s.language), maxIterations: Math.min(s.maxIterations ?? 100, 500) }),
];

if (UPGRADE_STEPS.length !== ORG_SETTINGS_VERSION) {
  throw new Error(`settings-store: ORG_SETTINGS_VERSION is ${ORG_SETTINGS_VERSION} but there are ${UPGRADE_STEPS.length} upgrade steps`);
}

function normaliseLanguage(tag: string | null): string {
  if (!tag) return 'en';
  const [lang, region] = tag.replace('_', '-').split('-');
  return region ? `${lang!.toLowerCase()}-${region.toUpperCase()}` : lang!.toLowerCase();
}

/** Applies every step from `fromVersion` up to `ORG_SETTINGS_VERSION` (pure; no database). */
export function upgradeSettings(settings: SettingsFields, fromVersion: number): SettingsFields {
  let out: SettingsFields = {
    theme: settings.theme,
    language: settings.language,
    llmModel: settings.llmModel,
    maxIterations: settings.maxIterations,
    confirmationMode: settings.confirmationMode,
  };
  for (let v = Math.max(0, fromVersion); v < ORG_SETTINGS_VERSION; v++) out = UPGRADE_STEPS[v]!(out);
  return out;
}

/**
 * The seed's `SaasSettingsStore.create_default_settings()`: brings one user's settings up
 * to `ORG_SETTINGS_VERSION`, writing the defaults each missed version introduced.
 *
 * Returns the upgraded row, or `null` when there was nothing to do: the user does not
 * exist, is already current, or another writer upgraded them meanwhile. The write is a
 * compare-and-set on `user_version`, so two runners (or a user saving their settings at
 * the same moment) never apply the same upgrade twice, and calling it again is a no-op.
 */
export async function createDefaultSettings(userId: string, manager: EntityManager): Promise<UserSettings | null> {
  const repo = manager.getRepository(UserSettings);
  const row = await repo.findOneBy({ id: userId });
  if (!row || row.userVersion >= ORG_SETTINGS_VERSION) return null;
  const upgraded = upgradeSettings(row, row.userVersion);
  const updatedAt = new Date();
  const result = await repo.update(
    { id: userId, userVersion: row.userVersion },
    { ...upgraded, userVersion: ORG_SETTINGS_VERSION, updatedAt },
  );
  if (!result.affected) return null;
  return Object.assign(row, upgraded, { userVersion: ORG_SETTINGS_VERSION, updatedAt });
}

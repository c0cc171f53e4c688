import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DataSource } from 'typeorm';
import type { UpkeepOptions } from '../core/upkeep';
import { CliError, EXIT } from './exit-codes';

/** What an `upkeep.config.*` file exports (default export, or a function returning it): `new Upkeep` options. */
export type UpkeepCliConfig = UpkeepOptions;

/** URL of this module in either build (the CommonJS one has `__filename` and an empty `import.meta`). */
export function cliModuleUrl(): string {
  if (typeof __filename === 'string' && __filename.length > 0) return pathToFileURL(__filename).href;
  return import.meta.url;
}

/** File names looked for in the working directory, in this order. */
export const CONFIG_NAMES = ['upkeep.config.ts', 'upkeep.config.mts', 'upkeep.config.mjs', 'upkeep.config.js'] as const;

/** Finds the config file: `--config PATH`, else the first of {@link CONFIG_NAMES} in `cwd`. */
export function findConfig(cwd: string, given?: string): string {
  if (given) {
    const path = resolve(cwd, given);
    if (!existsSync(path)) throw new CliError(`config file not found: ${path} (from --config ${given})`, EXIT.CONFIG);
    return path;
  }
  for (const name of CONFIG_NAMES) {
    const path = resolve(cwd, name);
    if (existsSync(path)) return path;
  }
  throw new CliError(`no config file: looked for ${CONFIG_NAMES.join(', ')} in ${cwd}; create one exporting { dataSource, processors } or pass --config PATH`, EXIT.CONFIG);
}

async function importConfig(path: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(path).href;
  if (/\.[mc]?ts$/.test(path)) {
    // Node 20 cannot import TypeScript: use tsx when the project has it.
    let tsx: { tsImport(specifier: string, parent: string): Promise<Record<string, unknown>> };
    try {
      tsx = (await import('tsx/esm/api')) as typeof tsx;
    } catch {
      throw new CliError(`${path} is TypeScript: install tsx (npm install -D tsx), run through Node's type stripping (node --experimental-strip-types, Node 22.6+), or use upkeep.config.mjs`, EXIT.CONFIG);
    }
    return tsx.tsImport(url, cliModuleUrl());
  }
  return (await import(url)) as Record<string, unknown>;
}

const isDataSource = (value: unknown): value is DataSource =>
  typeof value === 'object' && value !== null && typeof (value as DataSource).initialize === 'function' && typeof (value as DataSource).query === 'function' && 'options' in value;

/** Loads and checks a config file; every problem is a `CliError` with exit code 5 naming the file. */
export async function loadConfig(path: string): Promise<UpkeepCliConfig> {
  let mod: Record<string, unknown>;
  try {
    mod = await importConfig(path);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`could not load ${path}: ${(error as Error)?.message ?? String(error)}`, EXIT.CONFIG);
  }
  let config: unknown = mod.default ?? mod;
  // A CommonJS or transpiled module may wrap it once more.
  if (config && typeof config === 'object' && 'default' in config && !('dataSource' in config)) config = (config as { default: unknown }).default;
  if (typeof config === 'function') config = await (config as () => unknown)();
  if (typeof config !== 'object' || config === null) throw new CliError(`${path} must export (as default) an object { dataSource, processors, ... } or a function returning one`, EXIT.CONFIG);
  const c = config as Record<string, unknown>;
  if (!isDataSource(c.dataSource)) throw new CliError(`${path}: dataSource must be a TypeORM DataSource (got ${c.dataSource === undefined ? 'nothing' : typeof c.dataSource})`, EXIT.CONFIG);
  if (c.processors !== undefined && !Array.isArray(c.processors)) throw new CliError(`${path}: processors must be an array of processor classes`, EXIT.CONFIG);
  return c as unknown as UpkeepCliConfig;
}

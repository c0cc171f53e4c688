import { userInfo } from 'node:os';
import type { DataSource } from 'typeorm';
import { createAdminHandler } from '../admin/create-admin-handler';
import type { AdminHandler } from '../admin/admin-types';
import { Upkeep } from '../core/upkeep';
import { CliError, EXIT, exitCodeOfStatus } from './exit-codes';
import { findConfig, loadConfig, type UpkeepCliConfig } from './load-config';

/** An open connection for one command: the config, its DataSource, an Upkeep and the admin API in-process. */
export interface CliSession {
  config: UpkeepCliConfig;
  configPath: string;
  dataSource: DataSource;
  upkeep: Upkeep;
  /** Calls the admin API in-process as `cli:<user>` (an admin; audit entries name that actor). */
  call<T = Record<string, unknown>>(method: 'GET' | 'POST', path: string, options?: { query?: Record<string, string | undefined>; body?: unknown }): Promise<T>;
  close(): Promise<void>;
}

const actor = () => {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
};

/** Loads the config, connects (unless told not to) and builds the Upkeep the command works on. */
export async function openSession(cwd: string, configOption: string | undefined, options: { connect?: boolean } = {}): Promise<CliSession> {
  const configPath = findConfig(cwd, configOption);
  const config = await loadConfig(configPath);
  const { dataSource } = config;
  if (options.connect !== false && !dataSource.isInitialized) {
    try {
      await dataSource.initialize();
    } catch (error) {
      throw new CliError(`could not open the database of ${configPath}: ${(error as Error)?.message ?? String(error)}`, EXIT.FAILURE);
    }
  }
  const upkeep = new Upkeep(config);
  let admin: AdminHandler | undefined;
  const principal = { id: actor(), admin: true };
  return {
    config,
    configPath,
    dataSource,
    upkeep,
    async call(method, path, { query = {}, body } = {}) {
      admin ??= createAdminHandler(upkeep, { authorize: () => principal });
      const clean = Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined)) as Record<string, string>;
      const res = await admin({ method, path, query: clean, headers: { accept: 'application/json', 'content-type': 'application/json' }, body });
      if (res.status >= 400) {
        const err = (res.body ?? {}) as { message?: string; code?: string };
        throw new CliError(err.message ?? `${method} ${path} answered ${res.status}`, exitCodeOfStatus(res.status));
      }
      return res.body as never;
    },
    async close() {
      await upkeep.close().catch(() => undefined);
      if (dataSource.isInitialized) await dataSource.destroy().catch(() => undefined);
    },
  };
}

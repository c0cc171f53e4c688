// A PostgreSQL 15 server of one test file's own: initdb on a temp data dir, a free port, a
// unix socket in the temp dir. Tests restart it (fast, immediate) and terminate its backends;
// the shared server on 5432 is never touched. Processes are ended by their own PID only.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import { freePort, serverProcess, sleep, upkeepOptions } from './throwaway-server';

export { freePort, sleep };

const BIN = '/usr/lib/postgresql/15/bin';

/** True when the PostgreSQL 15 binaries and the `postgres` OS user exist on this machine. */
export function throwawayPostgresProblem(): string | null {
  if (!existsSync(join(BIN, 'initdb')) || !existsSync(join(BIN, 'postgres'))) return `PostgreSQL 15 binaries not found in ${BIN}`;
  if (osUser('postgres') === null) return 'no "postgres" OS user (the server refuses to run as root)';
  return null;
}

/** uid/gid of an OS user, or null. */
export function osUser(name: string): { uid: number; gid: number } | null {
  const r = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) return null;
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** How a running server is stopped: `fast` (SIGINT: rolls back, disconnects) or `immediate` (SIGQUIT: crash-like, recovery at start). */
export type PgStopMode = 'smart' | 'fast' | 'immediate';
const STOP_SIGNAL: Record<PgStopMode, NodeJS.Signals> = { smart: 'SIGTERM', fast: 'SIGINT', immediate: 'SIGQUIT' };

export interface ThrowawayPostgres {
  readonly port: number;
  readonly dir: string;
  /** PID of the running postmaster (changes at each restart), null while stopped. */
  readonly pid: number | null;
  /** TypeORM options for a database on this server (upkeep entities and migrations). */
  options(database: string): DataSourceOptions;
  /** Creates an empty database. */
  createDatabase(name: string): Promise<void>;
  /** Runs one statement on `database` (default `postgres`) through a short-lived client. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<T[]>;
  /** Stops the server (by its own PID) and waits until it has exited. */
  stop(mode: PgStopMode): Promise<void>;
  /** Starts it again on the same data dir and port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** stop(mode), stay down `downMs`, start(). Returns how long it was down (ms). */
  restart(mode: PgStopMode, downMs?: number): Promise<number>;
  /** pg_terminate_backend of every backend connected to `database` (but this call's own); returns how many. */
  terminateBackends(database: string): Promise<number>;
  /** The server log so far (all starts). */
  log(): string;
  /** Occurrences of `pattern` in the server log. */
  countInLog(pattern: RegExp): number;
  /** Stops the server and removes its directory. */
  destroy(): Promise<void>;
}

/**
 * Starts a throwaway PostgreSQL 15 as the `postgres` OS user (tests run as root; the server
 * refuses root). fsync off: a crash of this server process loses no committed transaction
 * (the WAL is written to the page cache at commit; only a machine crash would lose it).
 */
export async function startThrowawayPostgres(settings: Record<string, string | number> = {}): Promise<ThrowawayPostgres> {
  const user = osUser('postgres');
  if (!user) throw new Error('startThrowawayPostgres: no "postgres" OS user');
  const dir = mkdtempSync('/tmp/upkeep-pg-');
  chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  const logPath = join(dir, 'server.log');
  const init = spawnSync(join(BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'], {
    uid: user.uid,
    gid: user.gid,
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' },
  });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status}): ${init.stderr}`);
  }
  const port = await freePort();
  const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1'];
  const conf: Record<string, string | number> = {
    // fsync off is safe here: a crash of the server process (immediate stop) leaves written WAL
    // in the page cache. synchronous_commit stays on: off would lose transactions committed in
    // the last ~200 ms at an immediate stop, which no runner could be blamed for.
    fsync: 'off',
    full_page_writes: 'off',
    max_connections: 200,
    shared_buffers: '32MB',
    log_min_messages: 'warning',
    log_min_error_statement: 'error',
    log_line_prefix: '%m [%p] ',
    ...settings,
  };
  for (const [k, v] of Object.entries(conf)) args.push('-c', `${k}=${v}`);

  const connect = async (database: string) => {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database, connectionTimeoutMillis: 3000 });
    client.on('error', () => undefined); // a restart while a short-lived client is open is expected
    await client.connect();
    return client;
  };
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' };
  const proc = serverProcess({
    name: `postgres on ${port}`,
    command: join(BIN, 'postgres'),
    args,
    spawn: { uid: user.uid, gid: user.gid, cwd: dir, env },
    outputPath: logPath,
    ready: () => server.query('SELECT 1'),
    log: () => server.log(),
    exitSignal: 'SIGQUIT',
  });

  const server: ThrowawayPostgres = {
    port,
    dir,
    get pid() {
      return proc.pid;
    },
    options: (database) => upkeepOptions('postgres', port, 'postgres', database),
    async createDatabase(name) {
      await server.query(`CREATE DATABASE ${name}`);
    },
    async query<T>(sql: string, params: unknown[] = [], database = 'postgres') {
      const client = await connect(database);
      try {
        return (await client.query(sql, params)).rows as T[];
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    start: () => proc.start(),
    stop: (mode) => proc.stop(STOP_SIGNAL[mode]),
    async restart(mode, downMs = 0) {
      const t = Date.now();
      await server.stop(mode);
      if (downMs) await sleep(downMs);
      await server.start();
      return Date.now() - t;
    },
    async terminateBackends(database) {
      const rows = await server.query<{ ok: boolean }>(
        'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [database],
        database,
      );
      return rows.filter((r) => r.ok).length;
    },
    log: () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''),
    countInLog: (pattern) => (server.log().match(new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`)) ?? []).length,
    async destroy() {
      await proc.destroy('SIGQUIT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

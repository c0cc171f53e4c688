// A MariaDB server of one test file's own: mariadb-install-db on a temp datadir, a free port,
// a socket in the temp dir, root without password (grant tables skipped). Tests kill it with
// SIGKILL and start it again on the same datadir and port; the shared server on 3306 is never
// touched. Processes are ended by their own PID only.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import { freePort, serverProcess, sleep, upkeepOptions } from './throwaway-server';

const MARIADBD = '/usr/sbin/mariadbd';
const INSTALL = '/usr/bin/mariadb-install-db';

/** Null when a throwaway MariaDB can be started here, else why not. */
export function throwawayMariadbProblem(): string | null {
  if (!existsSync(MARIADBD)) return `${MARIADBD} not found`;
  if (!existsSync(INSTALL)) return `${INSTALL} not found`;
  return null;
}

export interface ThrowawayMariadb {
  readonly port: number;
  readonly dir: string;
  /** PID of the running server (changes at each restart), null while stopped. */
  readonly pid: number | null;
  /** TypeORM options for a database on this server (upkeep entities and migrations). */
  options(database: string): DataSourceOptions;
  createDatabase(name: string): Promise<void>;
  /** Runs one statement through a short-lived connection. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<T[]>;
  /** SIGKILL to the server's own PID; resolves once it has exited. */
  kill(): Promise<void>;
  /** Starts it again on the same datadir and port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** kill(), stay down `downMs`, start(). Returns how long it was down (ms). */
  killAndRestart(downMs?: number): Promise<number>;
  /** The error log so far (all starts). */
  log(): string;
  /** Stops the server and removes its directory. */
  destroy(): Promise<void>;
}

export async function startThrowawayMariadb(extraArgs: string[] = []): Promise<ThrowawayMariadb> {
  const dir = mkdtempSync('/tmp/upkeep-maria-');
  const data = join(dir, 'data');
  const logPath = join(dir, 'error.log');
  const install = spawnSync(INSTALL, ['--no-defaults', `--datadir=${data}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve'], {
    cwd: dir,
    encoding: 'utf8',
  });
  if (install.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`mariadb-install-db failed (${install.status}): ${install.stderr}\n${install.stdout}`);
  }
  const port = await freePort();
  const args = [
    '--no-defaults',
    `--datadir=${data}`,
    `--socket=${join(dir, 'mysqld.sock')}`,
    `--pid-file=${join(dir, 'mysqld.pid')}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    '--user=root',
    '--skip-grant-tables',
    '--skip-name-resolve',
    '--skip-log-bin',
    `--log-error=${logPath}`,
    '--innodb-buffer-pool-size=64M',
    '--innodb-log-file-size=32M',
    '--innodb-flush-log-at-trx-commit=2',
    '--innodb-doublewrite=0',
    '--max-connections=300',
    '--skip-performance-schema',
    ...extraArgs,
  ];
  const proc = serverProcess({
    name: `mariadbd on ${port}`,
    command: MARIADBD,
    args,
    spawn: { cwd: dir },
    outputPath: join(dir, 'stdout.log'),
    ready: () => server.query('SELECT 1'),
    log: () => server.log(),
    exitSignal: 'SIGKILL',
  });

  const server: ThrowawayMariadb = {
    port,
    dir,
    get pid() {
      return proc.pid;
    },
    options: (database) => upkeepOptions('mariadb', port, 'root', database),
    async createDatabase(name) {
      await server.query(`CREATE DATABASE ${name}`);
    },
    async query<T>(sql: string, params: unknown[] = [], database?: string) {
      const mysql = await import('mysql2/promise');
      const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', password: '', database, connectTimeout: 3000 });
      conn.on('error', () => undefined);
      try {
        const [rows] = await conn.query(sql, params);
        return rows as T[];
      } finally {
        await conn.end().catch(() => undefined);
      }
    },
    start: () => proc.start(),
    kill: () => proc.stop('SIGKILL'),
    async killAndRestart(downMs = 0) {
      const t = Date.now();
      await server.kill();
      if (downMs) await sleep(downMs);
      await server.start();
      return Date.now() - t;
    },
    log: () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''),
    async destroy() {
      await proc.destroy('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

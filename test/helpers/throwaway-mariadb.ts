// A MariaDB server of one test file's own: mariadb-install-db on a temp datadir, a free port,
// a socket in the temp dir, root without password (grant tables skipped). Tests kill it with
// SIGKILL and start it again on the same datadir and port; the shared server on 3306 is never
// touched. Processes are ended by their own PID only.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import { UPKEEP_ENTITIES, UPKEEP_MIGRATIONS } from '../../src';
import { freePort, sleep } from './throwaway-postgres';

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
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const server: ThrowawayMariadb = {
    port,
    dir,
    get pid() {
      return child && child.exitCode === null && child.signalCode === null ? child.pid! : null;
    },
    options: (database) =>
      ({
        type: 'mariadb',
        host: '127.0.0.1',
        port,
        username: 'root',
        password: '',
        database,
        entities: [...UPKEEP_ENTITIES],
        migrations: [...UPKEEP_MIGRATIONS],
        logging: false,
      }) as DataSourceOptions,
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
    async start() {
      if (server.pid) return;
      const fd = openSync(join(dir, 'stdout.log'), 'a');
      try {
        child = spawn(MARIADBD, args, { cwd: dir, stdio: ['ignore', fd, fd] });
      } finally {
        closeSync(fd);
      }
      const self = child;
      exited = new Promise<void>((resolve) => self.once('exit', () => resolve()));
      const until = Date.now() + 60_000;
      for (;;) {
        if (self.exitCode !== null || self.signalCode !== null) throw new Error(`mariadbd exited at start:\n${server.log().slice(-2000)}`);
        try {
          await server.query('SELECT 1');
          return;
        } catch (error) {
          if (Date.now() > until) throw new Error(`mariadbd on ${port} not ready within 60 s: ${(error as Error).message}`);
          await sleep(25);
        }
      }
    },
    async kill() {
      const pid = server.pid;
      if (!pid) return;
      process.kill(pid, 'SIGKILL');
      await exited;
    },
    async killAndRestart(downMs = 0) {
      const t = Date.now();
      await server.kill();
      if (downMs) await sleep(downMs);
      await server.start();
      return Date.now() - t;
    },
    log: () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''),
    async destroy() {
      await server.kill();
      process.off('exit', onExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const onExit = () => {
    const pid = server.pid;
    if (pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  };
  process.on('exit', onExit);
  await server.start();
  return server;
}

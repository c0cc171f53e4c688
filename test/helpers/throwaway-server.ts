// What the throwaway database servers of the fault tests share (throwaway-postgres.ts,
// throwaway-mariadb.ts): a free port, the server process started, waited for, signalled and
// stopped by its own PID only, a guard that kills it if the test process dies without afterAll,
// and upkeep's TypeORM options for a database on it.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import type { DataSourceOptions } from 'typeorm';
import { UPKEEP_ENTITIES, UPKEEP_MIGRATIONS } from '../../src';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** TypeORM options for `database` on a throwaway server (upkeep entities and migrations). */
export function upkeepOptions(type: 'postgres' | 'mariadb', port: number, username: string, database: string): DataSourceOptions {
  return { type, host: '127.0.0.1', port, username, password: '', database, entities: [...UPKEEP_ENTITIES], migrations: [...UPKEEP_MIGRATIONS], logging: false } as DataSourceOptions;
}

/** One server process, restartable on the same data dir and port. */
export interface ServerProcess {
  /** PID of the running server (changes at each start), null while stopped. */
  readonly pid: number | null;
  /** Starts it (nothing when running); resolves once `ready()` succeeds, throws if it exits first or takes over 60 s. */
  start(): Promise<void>;
  /** Sends `signal` to its own PID and resolves once it has exited (nothing when stopped). */
  stop(signal: NodeJS.Signals): Promise<void>;
  /** `signal`, then SIGKILL if it is still there after `graceMs`; removes the exit guard. */
  destroy(signal: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export function serverProcess(opts: {
  /** For messages: `postgres`, `mariadbd`. */
  name: string;
  command: string;
  args: string[];
  spawn?: Omit<SpawnOptions, 'stdio'>;
  /** Where its stdout and stderr go (appended). */
  outputPath: string;
  /** Resolves once the server accepts connections (called every 25 ms until then). */
  ready: () => Promise<unknown>;
  /** The tail of its log, for the error when it exits at start. */
  log: () => string;
  /** Signal sent by the guard when the test process exits with the server running. */
  exitSignal: NodeJS.Signals;
}): ServerProcess {
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const running = () => (child && child.exitCode === null && child.signalCode === null ? child.pid! : null);
  const guard = () => {
    const pid = running();
    if (pid) {
      try {
        process.kill(pid, opts.exitSignal);
      } catch {
        /* already gone */
      }
    }
  };
  process.on('exit', guard);
  const server: ServerProcess = {
    get pid() {
      return running();
    },
    async start() {
      if (running()) return;
      const fd = openSync(opts.outputPath, 'a');
      try {
        child = spawn(opts.command, opts.args, { ...opts.spawn, stdio: ['ignore', fd, fd] });
      } finally {
        closeSync(fd);
      }
      const self = child;
      exited = new Promise<void>((resolve) => self.once('exit', () => resolve()));
      const until = Date.now() + 60_000;
      for (;;) {
        if (self.exitCode !== null || self.signalCode !== null) throw new Error(`${opts.name} exited at start:\n${opts.log().slice(-2000)}`);
        try {
          await opts.ready();
          return;
        } catch (error) {
          if (Date.now() > until) throw new Error(`${opts.name} not ready within 60 s: ${(error as Error).message}`);
          await sleep(25);
        }
      }
    },
    async stop(signal) {
      const pid = running();
      if (!pid) return;
      process.kill(pid, signal);
      await exited;
    },
    async destroy(signal, graceMs = 10_000) {
      const pid = running();
      if (pid) {
        process.kill(pid, signal);
        const gone = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
        if (!gone && running()) {
          process.kill(pid, 'SIGKILL');
          await exited;
        }
      }
      process.off('exit', guard);
    },
  };
  return server;
}

// A runner in a child process (test/e2e/fixtures/fault-runner.ts) that a test can freeze
// (SIGSTOP), wake (SIGCONT), kill (SIGKILL) or stop (SIGTERM) by its own PID, and whose
// executions are read back from its execution log (one file per process).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataSourceOptions } from 'typeorm';
import type { RunnerOptions } from '../../src';

const FIXTURE = fileURLToPath(new URL('../e2e/fixtures/fault-runner.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** One line the child printed on stdout (see fault-runner.ts). */
export interface RunnerMessage {
  t: 'ready' | 'error' | 'warn';
  message?: string;
  during?: string;
  code?: string | null;
  runnerId?: string;
}

export interface RunnerProcess {
  readonly name: string;
  readonly pid: number;
  readonly runnerId: string;
  readonly child: ChildProcess;
  /** Its execution log file. */
  readonly logPath: string;
  /** Every message received so far. */
  readonly messages: RunnerMessage[];
  /** runner:error events received so far. */
  errors(): RunnerMessage[];
  /** Resolves with the exit code (null when killed by a signal) once it has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly alive: boolean;
  freeze(): void;
  thaw(): void;
  /** SIGKILL; resolves once it is gone. */
  kill(): Promise<void>;
  /** SIGTERM (graceful stop); resolves with the exit code. */
  stop(): Promise<number | null>;
  /** Its executions so far. */
  executions(): Execution[];
  /** The last ~10 KB it wrote on stderr (a crash's stack). */
  stderrTail(): string;
  /** How it exited when it did so on its own (not by kill() or stop()): a crash; null while alive or ended by the test. */
  crash(): string | null;
}

/** Starts a runner process and resolves once it reports `ready`. */
export function startRunnerProcess(opts: {
  name: string;
  dataSource: DataSourceOptions;
  logDir: string;
  runner?: RunnerOptions;
  settings?: Record<string, unknown>;
}): Promise<RunnerProcess> {
  const logPath = join(opts.logDir, `exec-${opts.name}.log`);
  const { entities: _e, migrations: _m, ...ds } = opts.dataSource as DataSourceOptions & { entities?: unknown; migrations?: unknown };
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    cwd: ROOT,
    env: {
      ...process.env,
      UPKEEP_DS: JSON.stringify(ds),
      FAULT_EXEC_LOG: logPath,
      RUNNER_OPTIONS: JSON.stringify(opts.runner ?? {}),
      UPKEEP_SETTINGS: JSON.stringify(opts.settings ?? {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const messages: RunnerMessage[] = [];
  let stderr = '';
  let buffered = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
  });
  let endedByTest = false;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    }),
  );
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let msg: RunnerMessage;
        try {
          msg = JSON.parse(line) as RunnerMessage;
        } catch {
          continue;
        }
        messages.push(msg);
        if (msg.t === 'ready') {
          const proc: RunnerProcess = {
            name: opts.name,
            pid: child.pid!,
            runnerId: msg.runnerId!,
            child,
            logPath,
            messages,
            errors: () => messages.filter((m) => m.t === 'error'),
            exited,
            get alive() {
              return child.exitCode === null && child.signalCode === null;
            },
            freeze: () => process.kill(child.pid!, 'SIGSTOP'),
            thaw: () => process.kill(child.pid!, 'SIGCONT'),
            kill: async () => {
              endedByTest = true;
              if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
              await exited;
            },
            stop: async () => {
              endedByTest = true;
              if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGTERM');
              return (await exited).code;
            },
            executions: () => readExecutions([logPath]),
            stderrTail: () => stderr,
            crash: () => (exit && !endedByTest ? `${opts.name} exited on its own (${exit.code ?? exit.signal}); stderr:\n${stderr.slice(-3000)}` : null),
          };
          resolve(proc);
        }
      }
    });
    void exited.then(({ code, signal }) => reject(new Error(`runner process ${opts.name} exited (${code ?? signal}) before it was ready: ${stderr}`)));
  });
}

/** One line of an execution log. */
export interface Execution {
  kind: 'S' | 'E' | 'F';
  at: number;
  taskId: string;
  attempt: number;
  pid: number;
}

export function readExecutions(paths: string[]): Execution[] {
  const out: Execution[] = [];
  for (const path of paths) {
    if (!existsSync(path)) continue;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const [kind, at, taskId, attempt, pid] = line.split(' ');
      if (!taskId || (kind !== 'S' && kind !== 'E' && kind !== 'F')) continue;
      out.push({ kind, at: Number(at), taskId, attempt: Number(attempt), pid: Number(pid) });
    }
  }
  return out;
}

/** Per task: starts, successful ends, deliberate failures, and starts cut off (no end line: its process died meanwhile). */
export interface TaskExecutions {
  starts: Execution[];
  ends: number;
  fails: number;
  cutOff: number;
}

export function executionsByTask(executions: Execution[]): Map<string, TaskExecutions> {
  const byTask = new Map<string, TaskExecutions>();
  const endKeys = new Set<string>();
  for (const e of executions) if (e.kind !== 'S') endKeys.add(`${e.taskId}/${e.attempt}/${e.pid}`);
  for (const e of executions) {
    let t = byTask.get(e.taskId);
    if (!t) byTask.set(e.taskId, (t = { starts: [], ends: 0, fails: 0, cutOff: 0 }));
    if (e.kind === 'S') {
      t.starts.push(e);
      if (!endKeys.has(`${e.taskId}/${e.attempt}/${e.pid}`)) t.cutOff++;
    } else if (e.kind === 'E') t.ends++;
    else t.fails++;
  }
  return byTask;
}

/** Starts in `log` that have no end line yet (running in that process now, or cut off if it died). */
export function unfinishedStarts(executions: Execution[]): Execution[] {
  const ended = new Set(executions.filter((e) => e.kind !== 'S').map((e) => `${e.taskId}/${e.attempt}/${e.pid}`));
  return executions.filter((e) => e.kind === 'S' && !ended.has(`${e.taskId}/${e.attempt}/${e.pid}`));
}

// Minimal declarations of the bench's own packages, for the ROOT typecheck only
// (`npm run typecheck` includes bench/ but must pass where bench/node_modules is not
// installed, as in CI). bench/tsconfig.json excludes this folder, so
// `npm --prefix bench run typecheck` checks the same files against the real packages.
// Only what the bench uses is declared.

declare module 'graphile-worker' {
  import type { Pool } from 'pg';
  export class Logger {
    constructor(factory: (scope: unknown) => (level: string, message: string, meta?: unknown) => void);
  }
  export interface WorkerUtils {
    migrate(): Promise<void>;
    addJob(identifier: string, payload?: unknown): Promise<unknown>;
    addJobs(specs: ReadonlyArray<{ identifier: string; payload: unknown }>): Promise<ReadonlyArray<unknown>>;
    release(): Promise<void>;
  }
  export interface Runner {
    stop(reason?: string): Promise<void>;
  }
  export function makeWorkerUtils(options: { pgPool: Pool; schema?: string; logger?: Logger }): Promise<WorkerUtils>;
  export function run(options: {
    pgPool: Pool;
    schema?: string;
    concurrency?: number;
    noHandleSignals?: boolean;
    logger?: Logger;
    taskList: Record<string, (payload: unknown) => Promise<void>>;
    preset?: { worker?: { localQueue?: { size: number }; completeJobBatchDelay?: number; failJobBatchDelay?: number } };
  }): Promise<Runner>;
}

declare module 'pg-boss' {
  namespace PgBoss {
    interface ConstructorOptions {
      host?: string;
      port?: number;
      user?: string;
      password?: string;
      database?: string;
      schema?: string;
      max?: number;
      supervise?: boolean;
      schedule?: boolean;
    }
    interface Job {
      id: string;
    }
  }
  class PgBoss {
    constructor(options: PgBoss.ConstructorOptions);
    on(event: 'error', listener: (error: Error) => void): this;
    start(): Promise<this>;
    stop(options?: { close?: boolean; graceful?: boolean; timeout?: number; wait?: boolean }): Promise<void>;
    createQueue(name: string): Promise<void>;
    send(name: string, data: object): Promise<string | null>;
    insert(jobs: Array<{ name: string; data?: object }>): Promise<void>;
    work(name: string, options: { batchSize?: number; pollingIntervalSeconds?: number }, handler: (jobs: PgBoss.Job[]) => Promise<unknown>): Promise<string>;
    offWork(name: string): Promise<void>;
  }
  export default PgBoss;
}

declare module 'generic-pool' {
  interface Pool<T> {
    ready(): Promise<void>;
    acquire(): Promise<T>;
    release(resource: T): Promise<void>;
    drain(): Promise<void>;
    clear(): Promise<void>;
  }
  const genericPool: {
    createPool<T>(factory: { create(): Promise<T>; destroy(resource: T): Promise<unknown> }, options?: { min?: number; max?: number }): Pool<T>;
  };
  export default genericPool;
}

declare module 'tarn' {
  export class Pool<T> {
    constructor(options: { create: () => Promise<T>; destroy: (resource: T) => unknown; min: number; max: number; acquireTimeoutMillis?: number });
    acquire(): { promise: Promise<T> };
    release(resource: T): boolean;
    destroy(): Promise<unknown>;
  }
}

declare module 'vega' {
  export type Spec = Record<string, unknown>;
  export interface Runtime {
    readonly __runtime: unique symbol;
  }
  export function parse(spec: Spec): Runtime;
  export class View {
    constructor(runtime: Runtime, options?: { renderer?: 'none' | 'svg' | 'canvas' });
    toSVG(scaleFactor?: number): Promise<string>;
    finalize(): this;
  }
}

declare module 'better-sqlite3' {
  namespace Database {
    interface Statement {
      run(...params: unknown[]): unknown;
      all(...params: unknown[]): unknown[];
    }
    interface Database {
      exec(sql: string): this;
      prepare(sql: string): Statement;
      transaction<F extends (...args: never[]) => unknown>(fn: F): F;
      close(): this;
    }
  }
  const Database: new (filename: string) => Database.Database;
  export default Database;
}

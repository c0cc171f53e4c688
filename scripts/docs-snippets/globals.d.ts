// Names the docs' snippets use without defining them: what an earlier snippet of the same page
// set up, and placeholders for the host's own code. Each snippet is a module, so one that
// defines a name of its own shadows these.
import type { DataSource, EntityManager } from 'typeorm';
import type { AdminRole, MaintenanceTask, MaintenanceTaskRunner, ProcessorClass, ServicePool, TaskContext, Upkeep } from 'upkeep';

/** The signed-in user a host's auth middleware or guard puts on the request (as passport does). */
interface HostUser {
  id: string;
  admin?: boolean;
  roles?: AdminRole[];
}

// What a host's auth layer declares for `req.user` (passport's types do this for Express).
declare module 'fastify' {
  interface FastifyRequest {
    user?: HostUser;
  }
}

declare global {
  namespace Express {
    interface Request {
      user?: HostUser;
    }
  }
  /** The host's Upkeep (README, step 2). */
  const upkeep: Upkeep;
  /** The host's initialized DataSource. */
  const dataSource: DataSource;
  /** A runner from `upkeep.createRunner()`. */
  const runner: MaintenanceTaskRunner;
  /** A task from `createTask`. */
  const task: MaintenanceTask;
  /** A processor's context, inside `process(task, ctx)`. */
  const ctx: TaskContext;
  /** A task id. */
  const id: string;
  /** A host logger (pino-like). */
  const log: { info(obj: object, msg?: string): void; warn(obj: unknown, msg?: string): void; error(obj: unknown, msg?: string): void };
  /** The host's alerting. */
  function alert(...args: unknown[]): void;
  /** Placeholder for the host's own work on one user. */
  function upgradeUser(dataSource: DataSource, userId: string): Promise<number>;
  /** Placeholder: user ids in chunks of 100. */
  const chunks: string[][];
  /** A pool from an earlier snippet. */
  const pool: ServicePool<unknown>;
  /** The host's processor classes. */
  const processors: ProcessorClass[];
  /** A transaction manager, inside `ctx.transaction`. */
  const manager: EntityManager;
}
export {};

import type { Dialect } from '../dialect';
import type { EventRow } from '../event-store';
import type { Executor } from '../executor';
import type { WriteErrorKind } from '../write-errors';
import type { CompletionRow } from '../task-complete';

/** A raw result row. */
export type Row = Record<string, unknown>;

/** A piece of SQL with its `?` parameters, in order. */
export interface Fragment {
  sql: string;
  params: unknown[];
}

/** Types a parameter may need a cast to (PostgreSQL infers none of these from a text parameter). */
export type ParamType = 'jsonb' | 'integer' | 'boolean';

/** What the claim statement needs; the store builds the dialect-neutral parts. */
export interface ClaimPlan {
  /** The quoted task table. */
  table: string;
  /** The "due and unblocked" condition on alias `t`. */
  due: Fragment;
  /** ORDER BY list on alias `t` (priority, due time, id). */
  order: string;
  /** The SET list that marks a row WORKING under the claiming runner. */
  set: Fragment;
  limit: number;
}

/** One chunk of successful results to write at once. */
export interface CompletionPlan {
  table: string;
  runnerId: string;
  items: ReadonlyArray<CompletionRow>;
  now: Date;
}

/** One chunk of `maintenance_tasks` rows to insert. */
export interface TaskInsertPlan {
  table: string;
  /** Column names (unquoted), the keys of every record. */
  cols: readonly string[];
  /** Rows as column → value (Dates, booleans and JSON objects not yet encoded). */
  records: ReadonlyArray<Record<string, unknown>>;
  /** Columns holding JSON. */
  jsonCols: readonly string[];
  /** True when a row is due now: PostgreSQL listeners are woken by the same statement. */
  wake: boolean;
}

/** The lease renewal of a heartbeat: rows of `ids` still WORKING under `runnerId` get `lease_expires_at = lease`. */
export interface LeaseRenewalPlan {
  table: string;
  runnerId: string;
  /** Ascending (the lock order of every multi-row UPDATE). */
  ids: readonly string[];
  /** The new lease end, encoded for the driver. */
  lease: unknown;
}

/** A task a heartbeat found still held, with the admin request on it. */
export interface HeldRow {
  id: string;
  control: 'cancel' | 'pause' | null;
}

/** Codes a driver error carries (see `codesOf` in write-errors.ts). */
export interface ErrorCodes {
  code?: string;
  errno?: number;
  message: string;
}

/**
 * Everything upkeep says differently per database, in the manner of Oban's engines: one
 * implementation per dialect (engines/postgres.ts, mysql.ts, sqlite.ts). The store classes
 * hold the dialect-neutral statements and logic and ask the engine for the rest; no store
 * method branches on the dialect.
 */
export interface StoreEngine {
  readonly dialect: Dialect;
  /** Rows per task insert statement (PostgreSQL sends a chunk as one JSON parameter). */
  readonly insertChunkSize: number;
  /** True where LISTEN/NOTIFY wakes runners. */
  readonly listens: boolean;

  /** A `?` placeholder cast to `type` where the driver needs it. */
  param(type: ParamType): string;
  /** A boolean literal for SQL text. */
  boolLiteral(value: boolean): string;
  /** ` RETURNING cols` where UPDATE/INSERT can return rows, '' elsewhere (callers read back). */
  returning(cols: string): string;
  /** `INSERT ...` suffix that replaces the row with the same `key`: every `cols` takes the new value. */
  upsert(key: string, cols: readonly string[], q: (name: string) => string): string;
  /** Keyset condition `(a, b) < (va, vb)` (descending pagination). */
  rowBefore(a: string, b: string, va: unknown, vb: unknown): Fragment;

  /** Claims due tasks, locking them so no other runner gets them; returns the claimed rows (any order). */
  claim(db: Executor, plan: ClaimPlan): Promise<Row[]>;
  /** Writes one chunk of successful results (rows locked in ascending id); returns the ids written. */
  completeBatch(db: Executor, plan: CompletionPlan): Promise<string[]>;
  /** Inserts one chunk of tasks, skipping rows whose unique key exists; returns the ids inserted. */
  insertTasks(db: Executor, plan: TaskInsertPlan): Promise<Set<string>>;
  /** Renews the leases of a heartbeat (rows locked in ascending id); returns the rows still held. */
  renewLeases(db: Executor, plan: LeaseRenewalPlan): Promise<HeldRow[]>;
  /** Deletes up to `limit` rows of `table` matching `where`, skipping rows locked by another deleter. */
  deleteBatch(db: Executor, table: string, where: Fragment, limit: number): Promise<number>;
  /** Inserts `task_events` rows with one statement. */
  insertEvents(db: Executor, rows: readonly EventRow[]): Promise<void>;
  /** Wakes runners listening for new work (a no-op where nothing listens). */
  notifyTasks(db: Executor): Promise<void>;

  /** The database's own verdict on a failed write, from its codes; undefined when they say nothing. */
  writeErrorKind(codes: ErrorCodes): WriteErrorKind | undefined;
  /** True for a deadlock or a lock wait timeout. */
  isLockConflict(codes: ErrorCodes): boolean;
}

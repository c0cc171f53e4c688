import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../core/errors';

/** Options of `upkeep.createRunner(...)`. */
export interface RunnerOptions {
  /** Tasks run at once by this runner. @defaultValue 10 */
  concurrency?: number;
  /** How often an idle runner looks for due tasks (PostgreSQL also wakes it by NOTIFY). @defaultValue 1000 */
  pollIntervalMs?: number;
  /** How long a claim stays valid without a heartbeat; a dead runner's tasks are rescued after it. @defaultValue 30000 */
  leaseMs?: number;
  /** How often leases of running tasks are renewed. @defaultValue leaseMs / 3 */
  heartbeatIntervalMs?: number;
  /** How often this runner looks for expired leases of other runners. @defaultValue leaseMs / 2 */
  rescueIntervalMs?: number;
  /**
   * Most tasks claimed by one statement. The runner sizes its claims itself: small while tasks
   * are slow or few, up to this many while a backlog of fast tasks drains (it keeps about
   * 250 ms of work claimed ahead). Setting it also keeps at least this many claimed.
   * @defaultValue settings.maxQueueSize (100); never more than settings.maxQueueSize
   */
  claimBatchSize?: number;
  /** Only run these processor types (default: every registered type). */
  processorTypes?: string[];
  /** Stable id of this runner in `locked_by`. @defaultValue `${hostname}:${pid}:${random}` */
  runnerId?: string;
  /** After cancel/pause/shutdown aborts a task's signal, how long to wait for the processor to return. @defaultValue 5000 */
  interruptGraceMs?: number;
  /** Listen for PostgreSQL NOTIFY so new tasks start at once. @defaultValue true */
  listen?: boolean;
  /** Resolve `whenIdle()` and stop claiming once nothing is due (used by `runDue`). @defaultValue false */
  exitWhenIdle?: boolean;
  /** Tick the cron schedules given to `Upkeep` (every runner may; each occurrence is enqueued once). @defaultValue true */
  schedules?: boolean;
  /** Apply the retention policy given to `Upkeep` from this runner. @defaultValue true */
  prune?: boolean;
  /**
   * A PENDING task whose type this runner does not know, due for longer than this, ends in
   * ERROR with UNKNOWN_PROCESSOR (no running build knows its type). Shorter waits leave it
   * for a newer runner, so rolling deploys are safe. 0 turns it off. @defaultValue 3600000 (one hour)
   */
  unknownTypeTimeoutMs?: number;
}

/** Runner options with every default applied. @internal */
export type ResolvedRunnerOptions = Required<Omit<RunnerOptions, 'processorTypes'>> & {
  processorTypes: string[] | undefined;
  /** Tasks kept claimed even while slow: claimBatchSize when given, else max(concurrency, 10). */
  claimFloor: number;
};

/** Longest delay a Node.js timer honours. */
export const MAX_TIMER_MS = 2_147_483_647;

const POSITIVE_INTS = ['concurrency', 'pollIntervalMs', 'leaseMs', 'heartbeatIntervalMs', 'rescueIntervalMs', 'claimBatchSize'] as const;
const KNOWN = new Set<string>([...POSITIVE_INTS, 'processorTypes', 'runnerId', 'interruptGraceMs', 'listen', 'exitWhenIdle', 'schedules', 'prune', 'unknownTypeTimeoutMs']);

/** Validates runner options (unknown keys and bad values name the key) and applies defaults. */
export function resolveRunnerOptions(options: RunnerOptions, maxQueueSize: number): ResolvedRunnerOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('createRunner(options): options must be an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new InvalidArgumentError(`createRunner(options): unknown option "${key}"`);
  }
  for (const key of POSITIVE_INTS) {
    const value = options[key];
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw new InvalidArgumentError(`createRunner(options): ${key} must be a positive integer (got ${JSON.stringify(value)})`);
    }
  }
  for (const key of ['interruptGraceMs', 'unknownTypeTimeoutMs'] as const) {
    const value = options[key];
    if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
      throw new InvalidArgumentError(`createRunner(options): ${key} must be an integer >= 0 (got ${JSON.stringify(value)})`);
    }
  }
  // Node.js fires longer timers after 1 ms; refuse them rather than spin.
  for (const key of [...POSITIVE_INTS.filter((k) => k !== 'concurrency' && k !== 'claimBatchSize'), 'interruptGraceMs'] as const) {
    const value = options[key];
    if (value !== undefined && value > MAX_TIMER_MS) {
      throw new InvalidArgumentError(`createRunner(options): ${key} must be at most ${MAX_TIMER_MS} ms (about 24.8 days)`);
    }
  }
  if (options.processorTypes !== undefined && (!Array.isArray(options.processorTypes) || options.processorTypes.some((t) => typeof t !== 'string'))) {
    throw new InvalidArgumentError('createRunner(options): processorTypes must be an array of strings');
  }
  const concurrency = options.concurrency ?? 10;
  const leaseMs = options.leaseMs ?? 30_000;
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? Math.max(1, Math.floor(leaseMs / 3));
  if (heartbeatIntervalMs >= leaseMs) {
    throw new InvalidArgumentError(`createRunner(options): heartbeatIntervalMs (${heartbeatIntervalMs}) must be below leaseMs (${leaseMs})`);
  }
  return {
    concurrency,
    pollIntervalMs: options.pollIntervalMs ?? 1000,
    leaseMs,
    heartbeatIntervalMs,
    rescueIntervalMs: options.rescueIntervalMs ?? Math.max(1, Math.floor(leaseMs / 2)),
    claimBatchSize: Math.min(options.claimBatchSize ?? maxQueueSize, maxQueueSize),
    claimFloor: Math.min(options.claimBatchSize ?? Math.max(concurrency, 10), maxQueueSize),
    processorTypes: options.processorTypes,
    runnerId: options.runnerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
    interruptGraceMs: options.interruptGraceMs ?? 5000,
    listen: options.listen ?? true,
    exitWhenIdle: options.exitWhenIdle ?? false,
    schedules: options.schedules ?? true,
    prune: options.prune ?? true,
    unknownTypeTimeoutMs: options.unknownTypeTimeoutMs ?? 3_600_000,
  };
}

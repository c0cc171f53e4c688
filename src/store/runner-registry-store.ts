import { engineOf } from './engines';
import type { Executor } from './executor';

/** A runner as the registry (`upkeep_runners`) knows it. */
export interface RunnerInfo {
  /** The runner's id (what it writes to `locked_by`). */
  id: string;
  /** Host name of the process running it. */
  host: string;
  /** Process id on that host. */
  pid: number;
  /** Tasks it runs at once. */
  concurrency: number;
  /** Processor types it claims. */
  processorTypes: string[];
  /** Its lease length; it counts as alive while its last heartbeat is within three of these. */
  leaseMs: number;
  /** Tasks it held (running, queued or being written) at its last heartbeat. */
  inFlight: number;
  /** When it started. */
  startedAt: Date;
  /** Its latest heartbeat. */
  lastHeartbeatAt: Date;
}

/** Heartbeats a runner may miss before the registry counts it gone. */
export const RUNNER_ALIVE_LEASES = 3;

const TABLE = 'upkeep_runners';
const COLUMNS = ['id', 'host', 'pid', 'concurrency', 'processor_types', 'lease_ms', 'in_flight', 'started_at', 'last_heartbeat_at'] as const;

/** Every statement on `upkeep_runners`: register, heartbeat, remove, list. @internal */
export class RunnerRegistryStore {
  constructor(private readonly db: Executor) {}

  private get c() {
    return this.db.codec;
  }

  /** Registers (or re-registers) a runner that starts. */
  async register(info: Omit<RunnerInfo, 'lastHeartbeatAt'>, now: Date): Promise<void> {
    const c = this.c;
    const q = (n: string) => c.id(n);
    const values = [info.id, info.host, info.pid, info.concurrency, JSON.stringify(info.processorTypes), info.leaseMs, info.inFlight, c.date(info.startedAt), c.date(now)];
    await this.db.query(
      `INSERT INTO ${q(TABLE)} (${COLUMNS.map(q).join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')}) ${engineOf(this.db).upsert('id', COLUMNS.filter((col) => col !== 'id'), q)}`,
      values,
    );
  }

  /** One statement per heartbeat: how much it holds, and that it is alive. False when its row is gone. */
  async beat(id: string, inFlight: number, now: Date): Promise<boolean> {
    const c = this.c;
    const { affected } = await this.db.query(`UPDATE ${c.id(TABLE)} SET ${c.id('in_flight')} = ?, ${c.id('last_heartbeat_at')} = ? WHERE ${c.id('id')} = ?`, [
      inFlight,
      c.date(now),
      id,
    ]);
    return affected > 0;
  }

  /** Removes a runner that stops. */
  async remove(id: string): Promise<void> {
    await this.db.query(`DELETE FROM ${this.c.id(TABLE)} WHERE ${this.c.id('id')} = ?`, [id]);
  }

  /** Every registered runner, alive or not, oldest first. */
  async list(): Promise<RunnerInfo[]> {
    const c = this.c;
    const { rows } = await this.db.query<Record<string, unknown>>(`SELECT * FROM ${c.id(TABLE)} ORDER BY ${c.id('started_at')}, ${c.id('id')}`);
    return rows.map((row) => ({
      id: row.id as string,
      host: row.host as string,
      pid: c.readInt(row.pid) ?? 0,
      concurrency: c.readInt(row.concurrency) ?? 0,
      processorTypes: parseTypes(row.processor_types),
      leaseMs: c.readInt(row.lease_ms) ?? 0,
      inFlight: c.readInt(row.in_flight) ?? 0,
      startedAt: c.readDate(row.started_at)!,
      lastHeartbeatAt: c.readDate(row.last_heartbeat_at)!,
    }));
  }

  /** Runners whose last heartbeat is within {@link RUNNER_ALIVE_LEASES} of their leases. */
  async listAlive(now: Date): Promise<RunnerInfo[]> {
    return (await this.list()).filter((r) => isAlive(r, now));
  }

  /** Deletes rows of runners gone for longer than {@link RUNNER_ALIVE_LEASES} leases (crashed, killed). Returns their ids. */
  async removeStale(now: Date): Promise<string[]> {
    const stale = (await this.list()).filter((r) => !isAlive(r, now));
    if (!stale.length) return [];
    const c = this.c;
    const ids = stale.map((r) => r.id);
    // Guarded by the heartbeat read: a runner that beat meanwhile keeps its row.
    for (const r of stale) {
      await this.db.query(`DELETE FROM ${c.id(TABLE)} WHERE ${c.id('id')} = ? AND ${c.id('last_heartbeat_at')} <= ?`, [r.id, c.date(r.lastHeartbeatAt)]);
    }
    return ids;
  }
}

function isAlive(r: RunnerInfo, now: Date): boolean {
  return now.getTime() - r.lastHeartbeatAt.getTime() <= RUNNER_ALIVE_LEASES * r.leaseMs;
}

function parseTypes(value: unknown): string[] {
  try {
    const parsed: unknown = typeof value === 'string' ? JSON.parse(value) : value;
    return Array.isArray(parsed) ? parsed.filter((t): t is string => typeof t === 'string') : [];
  } catch {
    return [];
  }
}

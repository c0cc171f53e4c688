import type { DataSource } from 'typeorm';

/** Channel the admin migration's triggers notify on when events are stored or progress is written (PostgreSQL). */
export const EVENTS_CHANNEL = 'upkeep_events';

interface PgClient {
  query(sql: string): Promise<unknown>;
  on(event: 'notification', fn: (msg: { channel: string }) => void): void;
  on(event: 'error', fn: (error: Error) => void): void;
  removeAllListeners(event?: string): void;
  release(error?: Error | boolean): void;
}

/**
 * One LISTEN connection per DataSource, shared by every open event stream and held only
 * while at least one is open. Streams still poll: a notification only makes them read at
 * once, so a lost connection costs latency, never events. @internal
 */
class EventsListener {
  private readonly subscribers = new Set<() => void>();
  private client: PgClient | undefined;
  private connecting: Promise<void> | undefined;
  private readonly released = new WeakSet<PgClient>();

  constructor(private readonly dataSource: DataSource) {}

  subscribe(fn: () => void): () => void {
    this.subscribers.add(fn);
    if (!this.client && !this.connecting) this.connecting = this.connect().finally(() => (this.connecting = undefined));
    return () => {
      this.subscribers.delete(fn);
      if (!this.subscribers.size) void this.disconnect();
    };
  }

  private async connect(): Promise<void> {
    const pool = (this.dataSource.driver as unknown as { master?: { connect(): Promise<PgClient> } }).master;
    if (!pool) return;
    let client: PgClient | undefined;
    try {
      client = await pool.connect();
      const c = client;
      this.released.delete(c); // the pool hands out the same client objects again
      c.on('notification', (msg) => {
        if (msg.channel === EVENTS_CHANNEL) for (const fn of this.subscribers) fn();
      });
      c.on('error', () => this.drop(c, true));
      await c.query(`LISTEN ${EVENTS_CHANNEL}`);
      if (!this.subscribers.size) return this.drop(c, false, true);
      this.client = c;
    } catch {
      // Polling covers it; a connection whose LISTEN failed goes back to the pool as broken.
      if (client) this.drop(client, true);
    }
  }

  private drop(client: PgClient, broken: boolean, unlisten = false): void {
    if (this.released.has(client)) return; // an error event and a failed LISTEN both drop it: release once
    this.released.add(client);
    if (this.client === client) this.client = undefined;
    client.removeAllListeners();
    if (unlisten && !broken) void client.query(`UNLISTEN ${EVENTS_CHANNEL}`).catch(() => undefined).finally(() => client.release());
    else client.release(broken);
  }

  private async disconnect(): Promise<void> {
    await this.connecting;
    const client = this.client;
    if (client && !this.subscribers.size) this.drop(client, false, true);
  }
}

const listeners = new WeakMap<DataSource, EventsListener>();

/** Calls `fn` whenever PostgreSQL notifies new events or progress; returns the unsubscribe. No-op elsewhere. @internal */
export function onStoredEvents(dataSource: DataSource, fn: () => void): () => void {
  if (dataSource.options.type !== 'postgres') return () => undefined;
  let listener = listeners.get(dataSource);
  if (!listener) listeners.set(dataSource, (listener = new EventsListener(dataSource)));
  return listener.subscribe(fn);
}

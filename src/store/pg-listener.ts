import type { DataSource } from 'typeorm';

/** Channel upkeep NOTIFYs on when due tasks are inserted or rescheduled. */
export const NOTIFY_CHANNEL = 'upkeep_tasks';
/** Channel the admin migration's triggers notify on when events are stored or progress is written (PostgreSQL). */
export const EVENTS_CHANNEL = 'upkeep_events';

interface PgClient {
  query(sql: string): Promise<unknown>;
  on(event: 'notification', fn: (msg: { channel: string }) => void): void;
  on(event: 'error', fn: (error: Error) => void): void;
  removeAllListeners(event?: string): void;
  release(error?: Error | boolean): void;
}
interface PgPool {
  connect(): Promise<PgClient>;
}

/** What a channel listener calls. */
interface ChannelHandlers {
  /** A notification arrived on the channel. */
  onNotify: () => void;
  /** The connection failed or dropped (polling covers the gap). */
  onError?: (error: unknown) => void;
  /** Reconnect with backoff after a failure (otherwise the next `start()` does). */
  reconnect?: boolean;
}

/**
 * One pooled PostgreSQL connection that LISTENs on one channel. The only LISTEN code in
 * upkeep: runners wake on `upkeep_tasks`, admin event streams on `upkeep_events`. A failed
 * or dropped connection goes back to the pool as broken (once, however many ways it failed);
 * a connection given back whole is UNLISTENed first.
 */
export class ChannelListener {
  private client: PgClient | undefined;
  private connecting: Promise<void> | undefined;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private readonly released = new WeakSet<PgClient>();

  constructor(
    private readonly dataSource: DataSource,
    readonly channel: string,
    private readonly handlers: ChannelHandlers,
  ) {}

  /** Connects and LISTENs unless already listening; resolves once listening or failed. */
  start(): Promise<void> {
    if (this.closed || this.client) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const pool = (this.dataSource.driver as unknown as { master?: PgPool }).master;
    if (!pool) return;
    let client: PgClient | undefined;
    try {
      client = await pool.connect();
      const c = client;
      this.released.delete(c); // the pool hands out the same client objects again
      c.on('notification', (msg) => {
        if (msg.channel === this.channel) this.handlers.onNotify();
      });
      c.on('error', (error) => this.fail(c, error));
      await c.query(`LISTEN ${this.channel}`);
      if (this.released.has(c)) return; // it failed while LISTEN ran
      if (this.closed) return void (await this.release(c, false));
      this.client = c;
      this.failures = 0;
    } catch (error) {
      this.fail(client, error);
    }
  }

  private fail(client: PgClient | undefined, error: unknown): void {
    if (client) {
      if (this.released.has(client)) return; // an error event and a failed LISTEN both land here: once
      void this.release(client, true);
    }
    this.handlers.onError?.(error);
    if (this.closed || !this.handlers.reconnect || this.retryTimer) return;
    const wait = Math.min(30_000, 500 * 2 ** Math.min(this.failures++, 6));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.start();
    }, wait);
    this.retryTimer.unref?.();
  }

  private async release(client: PgClient, broken: boolean): Promise<void> {
    if (this.released.has(client)) return;
    this.released.add(client);
    if (this.client === client) this.client = undefined;
    client.removeAllListeners();
    // Until the pool has it back, an 'error' (the backend ending during UNLISTEN) must have a
    // listener, or Node turns it into an uncaught exception.
    client.on('error', () => undefined);
    if (broken) return client.release(true);
    try {
      await client.query(`UNLISTEN ${this.channel}`);
    } catch {
      // the connection is going away anyway
    }
    client.release();
  }

  /** Stops listening for good and gives the connection back. */
  async stop(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.connecting;
    if (this.client) await this.release(this.client, false);
  }
}

/**
 * A runner's wake-up: LISTENs on {@link NOTIFY_CHANNEL} and calls `onWake`; reconnects with
 * backoff if the connection drops (polling covers the gap).
 */
export class PgListener {
  private readonly listener: ChannelListener;

  constructor(dataSource: DataSource, onWake: () => void, onError: (error: unknown) => void) {
    this.listener = new ChannelListener(dataSource, NOTIFY_CHANNEL, { onNotify: onWake, onError, reconnect: true });
  }

  start(): Promise<void> {
    return this.listener.start();
  }

  stop(): Promise<void> {
    return this.listener.stop();
  }
}

/**
 * Event streams' wake-up: one LISTEN connection on {@link EVENTS_CHANNEL} per DataSource,
 * shared by every open stream and held only while at least one is open. Streams still poll:
 * a notification only makes them read at once, so a lost connection costs latency, never
 * events (the next stream to open connects again).
 */
class SharedEventsListener {
  private readonly subscribers = new Set<() => void>();
  private listener: ChannelListener | undefined;

  constructor(private readonly dataSource: DataSource) {}

  subscribe(fn: () => void): () => void {
    this.subscribers.add(fn);
    this.listener ??= new ChannelListener(this.dataSource, EVENTS_CHANNEL, {
      onNotify: () => {
        for (const subscriber of this.subscribers) subscriber();
      },
    });
    void this.listener.start();
    return () => {
      this.subscribers.delete(fn);
      if (this.subscribers.size) return;
      const listener = this.listener;
      this.listener = undefined;
      void listener?.stop();
    };
  }
}

const eventListeners = new WeakMap<DataSource, SharedEventsListener>();

/** Calls `fn` whenever PostgreSQL notifies new events or progress; returns the unsubscribe. No-op elsewhere. @internal */
export function onStoredEvents(dataSource: DataSource, fn: () => void): () => void {
  if (dataSource.options.type !== 'postgres') return () => undefined;
  let listener = eventListeners.get(dataSource);
  if (!listener) eventListeners.set(dataSource, (listener = new SharedEventsListener(dataSource)));
  return listener.subscribe(fn);
}

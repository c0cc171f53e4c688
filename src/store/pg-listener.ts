import type { DataSource } from 'typeorm';

/** Channel upkeep NOTIFYs on when due tasks are inserted or rescheduled. */
export const NOTIFY_CHANNEL = 'upkeep_tasks';

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

/**
 * Holds one pooled PostgreSQL connection that LISTENs for new work and calls `onWake`.
 * Reconnects with backoff if the connection drops; polling covers the gap.
 */
export class PgListener {
  private client: PgClient | undefined;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;

  constructor(
    private readonly dataSource: DataSource,
    private readonly onWake: () => void,
    private readonly onError: (error: unknown) => void,
  ) {}

  async start(): Promise<void> {
    const pool = (this.dataSource.driver as unknown as { master?: PgPool }).master;
    if (!pool || this.closed) return;
    try {
      const client = await pool.connect();
      client.on('notification', (msg) => {
        if (msg.channel === NOTIFY_CHANNEL) this.onWake();
      });
      client.on('error', (error) => this.reconnect(error));
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      if (this.closed) {
        client.release();
        return;
      }
      this.client = client;
      this.failures = 0;
    } catch (error) {
      this.reconnect(error);
    }
  }

  private reconnect(error: unknown): void {
    this.onError(error);
    if (this.client) {
      this.client.removeAllListeners();
      this.client.release(true);
      this.client = undefined;
    }
    if (this.closed) return;
    const wait = Math.min(30_000, 500 * 2 ** Math.min(this.failures++, 6));
    this.retryTimer = setTimeout(() => void this.start(), wait);
    this.retryTimer.unref?.();
  }

  async stop(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    try {
      await client.query(`UNLISTEN ${NOTIFY_CHANNEL}`);
    } catch {
      // the connection is going away anyway
    }
    client.removeAllListeners();
    client.release();
  }
}

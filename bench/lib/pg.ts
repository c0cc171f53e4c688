// PostgreSQL helpers: one throwaway database per bench run on the shared server, and
// the commit counter (pg_stat_database.xact_commit) used for "statements per task".
import pg from 'pg';

export const PG = {
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  password: process.env.PGPASSWORD ?? '',
};

export async function createPgDatabase(name: string): Promise<void> {
  const client = new pg.Client({ ...PG, database: 'postgres' });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
}

export async function dropPgDatabase(name: string): Promise<void> {
  const client = new pg.Client({ ...PG, database: 'postgres' });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** One connection into the bench database for counting, stats and schema work. */
export class PgProbe {
  readonly client: pg.Client;
  /** Transactions this probe committed itself (subtracted from the commit deltas). */
  ownCommits = 0;

  constructor(readonly database: string) {
    this.client = new pg.Client({ ...PG, database, application_name: 'bench-probe' });
  }

  async connect(): Promise<void> {
    await this.client.connect();
  }

  async query<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<T[]> {
    this.ownCommits += 1;
    const result = await this.client.query<T>(sql, params);
    return result.rows;
  }

  async count(sql: string): Promise<number> {
    const rows = await this.query<{ n: string }>(sql);
    return Number(rows[0]!.n);
  }

  /**
   * Commits in this database so far. Backends flush their counters when they go idle, at
   * most once a second (PostgreSQL 15 `PGSTAT_MIN_INTERVAL`), so callers wait 1.1 s first.
   */
  async commits(): Promise<number> {
    await this.client.query('SELECT pg_stat_clear_snapshot()');
    const rows = await this.client.query<{ n: string }>('SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()');
    this.ownCommits += 2;
    return Number(rows.rows[0]!.n);
  }

  async freshSchema(schema: string): Promise<void> {
    await this.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await this.query(`CREATE SCHEMA ${schema}`);
  }

  async dropSchema(schema: string): Promise<void> {
    await this.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  }

  async end(): Promise<void> {
    await this.client.end();
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';
import { dialectOf, type Dialect } from '../store/dialect';

const q = (dialect: Dialect, name: string) => (dialect === 'mysql' ? `\`${name}\`` : `"${name}"`);

/** Index name → table and columns: what the admin API's list (newest first, cursor on created_at and id) and audit list read. */
const INDEXES: Array<[name: string, table: string, columns: string[]]> = [
  ['idx_upkeep_tasks_created', 'maintenance_tasks', ['created_at', 'id']],
  ['idx_upkeep_tasks_status_created', 'maintenance_tasks', ['status', 'created_at', 'id']],
  ['idx_upkeep_tasks_type_created', 'maintenance_tasks', ['processor_type', 'created_at', 'id']],
  ['idx_upkeep_events_type', 'task_events', ['event_type', 'id']],
];

/**
 * PostgreSQL only: statement-level triggers that NOTIFY `upkeep_events` when events are stored
 * or progress is written, so admin event streams in any process read at once instead of at
 * their next poll. One notification per statement (PostgreSQL folds repeats in a transaction).
 */
const PG_NOTIFY = [
  `CREATE FUNCTION "upkeep_notify_events"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('upkeep_events', TG_TABLE_NAME); RETURN NULL; END $$`,
  `CREATE TRIGGER "upkeep_events_notify" AFTER INSERT ON "task_events" FOR EACH STATEMENT EXECUTE FUNCTION "upkeep_notify_events"()`,
  `CREATE TRIGGER "upkeep_progress_notify" AFTER UPDATE OF "progress_done" ON "maintenance_tasks" FOR EACH STATEMENT EXECUTE FUNCTION "upkeep_notify_events"()`,
];

/** Statements creating the admin API's indexes (and, on PostgreSQL, its NOTIFY triggers) on one dialect. */
export function adminIndexStatements(dialect: Dialect): string[] {
  const n = (name: string) => q(dialect, name);
  const indexes = INDEXES.map(([name, table, columns]) => `CREATE INDEX ${n(name)} ON ${n(table)} (${columns.map(n).join(', ')})`);
  return dialect === 'postgres' ? [...indexes, ...PG_NOTIFY] : indexes;
}

/**
 * Indexes for the admin API: task pages in (created_at, id) order, unfiltered, by status and
 * by processor type (each page is an index range scan, however deep the cursor), and the
 * global audit list (`event_type = 'audit'` by id); on PostgreSQL, NOTIFY triggers for event streams.
 */
export class UpkeepAdminIndexes1764350000000 implements MigrationInterface {
  name = 'UpkeepAdminIndexes1764350000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const statement of adminIndexStatements(dialectOf(queryRunner.connection))) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const dialect = dialectOf(queryRunner.connection);
    if (dialect === 'postgres') {
      await queryRunner.query(`DROP TRIGGER IF EXISTS "upkeep_progress_notify" ON "maintenance_tasks"`);
      await queryRunner.query(`DROP TRIGGER IF EXISTS "upkeep_events_notify" ON "task_events"`);
      await queryRunner.query(`DROP FUNCTION IF EXISTS "upkeep_notify_events"()`);
    }
    for (const [name, table] of [...INDEXES].reverse()) {
      await queryRunner.query(dialect === 'mysql' ? `DROP INDEX ${q(dialect, name)} ON ${q(dialect, table)}` : `DROP INDEX ${q(dialect, name)}`);
    }
  }
}

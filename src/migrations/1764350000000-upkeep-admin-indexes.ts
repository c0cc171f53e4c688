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

/** Statements creating the admin API's indexes on one dialect. */
export function adminIndexStatements(dialect: Dialect): string[] {
  const n = (name: string) => q(dialect, name);
  return INDEXES.map(([name, table, columns]) => `CREATE INDEX ${n(name)} ON ${n(table)} (${columns.map(n).join(', ')})`);
}

/**
 * Indexes for the admin API: task pages in (created_at, id) order, unfiltered, by status and
 * by processor type (each page is an index range scan, however deep the cursor), and the
 * global audit list (`event_type = 'audit'` by id).
 */
export class UpkeepAdminIndexes1764350000000 implements MigrationInterface {
  name = 'UpkeepAdminIndexes1764350000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const statement of adminIndexStatements(dialectOf(queryRunner.connection))) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const dialect = dialectOf(queryRunner.connection);
    for (const [name, table] of [...INDEXES].reverse()) {
      await queryRunner.query(dialect === 'mysql' ? `DROP INDEX ${q(dialect, name)} ON ${q(dialect, table)}` : `DROP INDEX ${q(dialect, name)}`);
    }
  }
}

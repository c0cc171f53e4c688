import type { MigrationInterface, QueryRunner } from 'typeorm';
import { dialectOf } from '../store/dialect';

/**
 * Adds `maintenance_tasks.trace_context`: the W3C `traceparent` of the span that enqueued a
 * task (null without OpenTelemetry), so each attempt's span joins the enqueuing trace in
 * whatever process runs it. See `upkeep/opentelemetry`.
 */
export class UpkeepTraceContext1764800000000 implements MigrationInterface {
  name = 'UpkeepTraceContext1764800000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const q = dialectOf(queryRunner.connection) === 'mysql' ? (n: string) => `\`${n}\`` : (n: string) => `"${n}"`;
    await queryRunner.query(`ALTER TABLE ${q('maintenance_tasks')} ADD COLUMN ${q('trace_context')} varchar(255) NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = dialectOf(queryRunner.connection) === 'mysql' ? (n: string) => `\`${n}\`` : (n: string) => `"${n}"`;
    await queryRunner.query(`ALTER TABLE ${q('maintenance_tasks')} DROP COLUMN ${q('trace_context')}`);
  }
}

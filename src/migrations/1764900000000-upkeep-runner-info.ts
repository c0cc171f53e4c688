import type { MigrationInterface, QueryRunner } from 'typeorm';
import { dialectOf } from '../store/dialect';

/**
 * Adds `maintenance_tasks.runner_info`: what the runner records about a task for itself
 * (failed attempts, placement and out-of-memory decisions), so that `info` holds only the
 * task's outcome as the seed has it: the processor's returned object on COMPLETED, the
 * error's message in `info.error` on ERROR.
 */
export class UpkeepRunnerInfo1764900000000 implements MigrationInterface {
  name = 'UpkeepRunnerInfo1764900000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const dialect = dialectOf(queryRunner.connection);
    const q = dialect === 'mysql' ? (n: string) => `\`${n}\`` : (n: string) => `"${n}"`;
    await queryRunner.query(`ALTER TABLE ${q('maintenance_tasks')} ADD COLUMN ${q('runner_info')} ${dialect === 'postgres' ? 'jsonb' : 'json'} NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = dialectOf(queryRunner.connection) === 'mysql' ? (n: string) => `\`${n}\`` : (n: string) => `"${n}"`;
    await queryRunner.query(`ALTER TABLE ${q('maintenance_tasks')} DROP COLUMN ${q('runner_info')}`);
  }
}

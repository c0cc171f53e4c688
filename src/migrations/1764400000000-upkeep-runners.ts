import type { MigrationInterface, QueryRunner } from 'typeorm';
import { dialectOf, type Dialect } from '../store/dialect';

const TYPES: Record<Dialect, { str: (n: number) => string; int: string; text: string; time: string }> = {
  postgres: { str: (n) => `varchar(${n})`, int: 'integer', text: 'text', time: 'timestamptz(3)' },
  mysql: { str: (n) => `varchar(${n})`, int: 'int', text: 'longtext', time: 'datetime(3)' },
  sqlite: { str: (n) => `varchar(${n})`, int: 'integer', text: 'text', time: 'datetime' },
};

function q(dialect: Dialect, name: string): string {
  return dialect === 'mysql' ? `\`${name}\`` : `"${name}"`;
}

/** Statements that create the runner registry on one dialect. */
export function runnerRegistryStatements(dialect: Dialect): string[] {
  const t = TYPES[dialect];
  const n = (name: string) => q(dialect, name);
  const suffix = dialect === 'mysql' ? ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4' : '';
  return [
    `CREATE TABLE ${n('upkeep_runners')} (
  ${n('id')} ${t.str(128)} NOT NULL,
  ${n('host')} ${t.str(255)} NOT NULL,
  ${n('pid')} ${t.int} NOT NULL,
  ${n('concurrency')} ${t.int} NOT NULL,
  ${n('processor_types')} ${t.text} NOT NULL,
  ${n('lease_ms')} ${t.int} NOT NULL,
  ${n('in_flight')} ${t.int} NOT NULL DEFAULT 0,
  ${n('started_at')} ${t.time} NOT NULL,
  ${n('last_heartbeat_at')} ${t.time} NOT NULL,
  PRIMARY KEY (${n('id')})
)${suffix}`,
    `CREATE INDEX ${n('idx_upkeep_runners_heartbeat')} ON ${n('upkeep_runners')} (${n('last_heartbeat_at')})`,
  ];
}

/** Creates `upkeep_runners`: one row per started runner, renewed by its heartbeats. */
export class UpkeepRunners1764400000000 implements MigrationInterface {
  name = 'UpkeepRunners1764400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const dialect = dialectOf(queryRunner.connection);
    for (const statement of runnerRegistryStatements(dialect)) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE ${q(dialectOf(queryRunner.connection), 'upkeep_runners')}`);
  }
}

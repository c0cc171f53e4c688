import type { MigrationInterface, QueryRunner } from 'typeorm';
import { dialectOf, type Dialect } from '../store/dialect';

type Kind = 'id36' | 'str16' | 'str50' | 'str64' | 'str100' | 'str128' | 'str255' | 'text' | 'longtext' | 'int' | 'json' | 'time' | 'bool' | 'serial';
type ColumnSpec = [name: string, kind: Kind, nullable: boolean, defaultValue?: string];

const TYPES: Record<Dialect, Record<Kind, string>> = {
  postgres: {
    id36: 'varchar(36)', str16: 'varchar(16)', str50: 'varchar(50)', str64: 'varchar(64)', str100: 'varchar(100)',
    str128: 'varchar(128)', str255: 'varchar(255)', text: 'text', longtext: 'text', int: 'integer', json: 'jsonb',
    time: 'timestamptz(3)', bool: 'boolean', serial: 'SERIAL PRIMARY KEY',
  },
  mysql: {
    id36: 'varchar(36)', str16: 'varchar(16)', str50: 'varchar(50)', str64: 'varchar(64)', str100: 'varchar(100)',
    str128: 'varchar(128)', str255: 'varchar(255)', text: 'text', longtext: 'longtext', int: 'int', json: 'json',
    time: 'datetime(3)', bool: 'tinyint(1)', serial: 'int NOT NULL AUTO_INCREMENT PRIMARY KEY',
  },
  sqlite: {
    id36: 'varchar(36)', str16: 'varchar(16)', str50: 'varchar(50)', str64: 'varchar(64)', str100: 'varchar(100)',
    str128: 'varchar(128)', str255: 'varchar(255)', text: 'text', longtext: 'text', int: 'integer', json: 'json',
    time: 'datetime', bool: 'boolean', serial: 'integer PRIMARY KEY AUTOINCREMENT',
  },
};

const TASK_COLUMNS: ColumnSpec[] = [
  ['id', 'id36', false],
  ['status', 'str16', false],
  ['processor_type', 'str255', false],
  ['processor_json', 'longtext', false],
  ['delay', 'int', false, '0'],
  ['info', 'json', true],
  ['created_at', 'time', false],
  ['updated_at', 'time', false],
  ['start_at', 'time', false],
  ['priority', 'int', false, '0'],
  ['attempts', 'int', false, '0'],
  ['max_attempts', 'int', false, '3'],
  ['timeout_ms', 'int', true],
  ['failure_reason', 'str64', true],
  ['last_error', 'text', true],
  ['locked_by', 'str128', true],
  ['lease_expires_at', 'time', true],
  ['control', 'str16', true],
  ['started_at', 'time', true],
  ['finished_at', 'time', true],
  ['progress_done', 'int', true],
  ['progress_total', 'int', true],
  ['cursor', 'longtext', true],
  ['unique_key', 'str255', true],
  ['depends_on_count', 'int', false, '0'],
  ['estimated_memory_mb', 'int', true],
  ['actual_memory_mb', 'int', true],
  ['assigned_device', 'str50', true],
  ['service_instance_id', 'str100', true],
  ['resource_cleanup_completed', 'bool', false, 'FALSE'],
  ['version', 'int', false, '1'],
];

function q(dialect: Dialect, name: string) {
  return dialect === 'mysql' ? `\`${name}\`` : `"${name}"`;
}

function columnSql(dialect: Dialect, [name, kind, nullable, defaultValue]: ColumnSpec) {
  const type = TYPES[dialect][kind];
  if (kind === 'serial') return `${q(dialect, name)} ${type}`;
  let sql = `${q(dialect, name)} ${type}${nullable ? ' NULL' : ' NOT NULL'}`;
  if (defaultValue !== undefined) sql += ` DEFAULT ${dialect === 'sqlite' && defaultValue === 'FALSE' ? '0' : defaultValue}`;
  return sql;
}

function createTable(dialect: Dialect, table: string, columns: ColumnSpec[], extra: string[] = []) {
  const body = [...columns.map((c) => columnSql(dialect, c)), ...extra].join(',\n  ');
  const suffix = dialect === 'mysql' ? ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4' : '';
  return `CREATE TABLE ${q(dialect, table)} (\n  ${body}\n)${suffix}`;
}

function fk(dialect: Dialect, name: string, column: string, table = 'maintenance_tasks') {
  return `CONSTRAINT ${q(dialect, name)} FOREIGN KEY (${q(dialect, column)}) REFERENCES ${q(dialect, table)} (${q(dialect, 'id')}) ON DELETE CASCADE`;
}

/** Statements that create upkeep's schema on one dialect; exported for tests and docs. */
export function upkeepSchemaStatements(dialect: Dialect): string[] {
  const n = (name: string) => q(dialect, name);
  const statements = [
    createTable(dialect, 'maintenance_tasks', TASK_COLUMNS, [`PRIMARY KEY (${n('id')})`]),
    // The claim: due PENDING tasks by priority, then due time.
    // Partial where the dialect allows it: only PENDING rows, already in claim order, so the
    // planner picks it even before the table's statistics catch up with a bulk insert.
    dialect === 'mysql'
      ? `CREATE INDEX ${n('idx_upkeep_tasks_claim')} ON ${n('maintenance_tasks')} (${n('status')}, ${n('priority')} DESC, ${n('start_at')}, ${n('id')})`
      : `CREATE INDEX ${n('idx_upkeep_tasks_claim')} ON ${n('maintenance_tasks')} (${n('priority')} DESC, ${n('start_at')}, ${n('id')}) WHERE ${n('status')} = 'PENDING'`,
    // Lease rescue: WORKING tasks whose lease ran out.
    dialect === 'mysql'
      ? `CREATE INDEX ${n('idx_upkeep_tasks_lease')} ON ${n('maintenance_tasks')} (${n('status')}, ${n('lease_expires_at')})`
      : `CREATE INDEX ${n('idx_upkeep_tasks_lease')} ON ${n('maintenance_tasks')} (${n('lease_expires_at')}) WHERE ${n('status')} = 'WORKING'`,
    // Heartbeats and hand-back: everything one runner holds.
    dialect === 'mysql'
      ? `CREATE INDEX ${n('idx_upkeep_tasks_locked_by')} ON ${n('maintenance_tasks')} (${n('locked_by')})`
      : `CREATE INDEX ${n('idx_upkeep_tasks_locked_by')} ON ${n('maintenance_tasks')} (${n('locked_by')}) WHERE ${n('locked_by')} IS NOT NULL`,
    // Retention and admin listings.
    dialect === 'mysql'
      ? `CREATE INDEX ${n('idx_upkeep_tasks_finished')} ON ${n('maintenance_tasks')} (${n('status')}, ${n('finished_at')})`
      : `CREATE INDEX ${n('idx_upkeep_tasks_finished')} ON ${n('maintenance_tasks')} (${n('status')}, ${n('finished_at')}) WHERE ${n('finished_at')} IS NOT NULL`,
    // Metrics (average wait) and the unknown-type sweep look at recent starts.
    dialect === 'mysql'
      ? `CREATE INDEX ${n('idx_upkeep_tasks_started')} ON ${n('maintenance_tasks')} (${n('started_at')}, ${n('processor_type')})`
      : `CREATE INDEX ${n('idx_upkeep_tasks_started')} ON ${n('maintenance_tasks')} (${n('started_at')}, ${n('processor_type')}) WHERE ${n('started_at')} IS NOT NULL`,
    // Partial where possible: enqueues without a key (most) skip this index entirely.
    dialect === 'mysql'
      ? `CREATE UNIQUE INDEX ${n('uq_upkeep_tasks_unique_key')} ON ${n('maintenance_tasks')} (${n('unique_key')})`
      : `CREATE UNIQUE INDEX ${n('uq_upkeep_tasks_unique_key')} ON ${n('maintenance_tasks')} (${n('unique_key')}) WHERE ${n('unique_key')} IS NOT NULL`,
    createTable(
      dialect,
      'maintenance_task_dependencies',
      [
        ['task_id', 'id36', false],
        ['depends_on_id', 'id36', false],
        ['created_at', 'time', false],
      ],
      [
        `PRIMARY KEY (${n('task_id')}, ${n('depends_on_id')})`,
        fk(dialect, 'fk_upkeep_dep_task', 'task_id'),
        fk(dialect, 'fk_upkeep_dep_depends_on', 'depends_on_id'),
      ],
    ),
    `CREATE INDEX ${n('idx_upkeep_dep_depends_on')} ON ${n('maintenance_task_dependencies')} (${n('depends_on_id')})`,
    createTable(
      dialect,
      'task_metrics',
      [
        ['id', 'serial', false],
        ['task_id', 'id36', false],
        ['timestamp', 'time', false],
        ['memory_usage_mb', 'int', true],
        ['device', 'str50', true],
        ['processing_stage', 'str100', true],
      ],
      [fk(dialect, 'fk_upkeep_metrics_task', 'task_id')],
    ),
    `CREATE INDEX ${n('idx_upkeep_metrics_task')} ON ${n('task_metrics')} (${n('task_id')}, ${n('timestamp')})`,
    `CREATE INDEX ${n('idx_upkeep_metrics_time')} ON ${n('task_metrics')} (${n('timestamp')})`,
    createTable(
      dialect,
      'task_events',
      [
        ['id', 'serial', false],
        ['task_id', 'id36', true],
        ['event_type', 'str50', false],
        ['timestamp', 'time', false],
        ['details', 'json', true],
      ],
      [fk(dialect, 'fk_upkeep_events_task', 'task_id')],
    ),
    `CREATE INDEX ${n('idx_upkeep_events_task')} ON ${n('task_events')} (${n('task_id')}, ${n('timestamp')})`,
    `CREATE INDEX ${n('idx_upkeep_events_time')} ON ${n('task_events')} (${n('timestamp')})`,
  ];
  return statements;
}

/** Creates `maintenance_tasks`, `maintenance_task_dependencies`, `task_metrics` and `task_events`. */
export class UpkeepInit1764300000000 implements MigrationInterface {
  name = 'UpkeepInit1764300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const dialect = dialectOf(queryRunner.connection);
    for (const statement of upkeepSchemaStatements(dialect)) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const dialect = dialectOf(queryRunner.connection);
    for (const table of ['task_events', 'task_metrics', 'maintenance_task_dependencies', 'maintenance_tasks']) {
      await queryRunner.query(`DROP TABLE ${q(dialect, table)}`);
    }
  }
}

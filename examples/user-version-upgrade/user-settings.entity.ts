import { Column, Entity, PrimaryColumn, type MigrationInterface, type QueryRunner, Table } from 'typeorm';

/**
 * One user's settings (table `user_settings`), as in the first seed: `user_version` says
 * which settings schema the row was last written with, and `ORG_SETTINGS_VERSION`
 * (see settings-store.ts) is the current one.
 *
 * Every column names its type: code built by esbuild (tsx, tsup, vitest) carries no
 * `design:type` metadata, so TypeORM could not infer them.
 */
@Entity({ name: 'user_settings' })
export class UserSettings {
  /** The user's id (the host app's own ids; any string up to 64 characters). */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  /** Settings schema version this row was last upgraded to. */
  @Column({ name: 'user_version', type: 'integer', default: 0 })
  userVersion!: number;

  /** UI theme: `light`, `dark` or `system`. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  theme!: string | null;

  /** Interface language as a BCP 47 tag (`en`, `fr`, `pt-BR`, ...). */
  @Column({ type: 'varchar', length: 16, nullable: true })
  language!: string | null;

  /** Model the user's agent talks to. */
  @Column({ name: 'llm_model', type: 'varchar', length: 100, nullable: true })
  llmModel!: string | null;

  /** Most agent iterations per conversation. */
  @Column({ name: 'max_iterations', type: 'integer', nullable: true })
  maxIterations!: number | null;

  /** Whether the agent asks before running commands (added in version 3). */
  @Column({ name: 'confirmation_mode', type: 'boolean', default: false })
  confirmationMode!: boolean;

  /** When the row last changed. */
  @Column({ name: 'updated_at', type: Date, precision: 3 })
  updatedAt!: Date;
}

/**
 * The example's own migration: creates `user_settings` next to upkeep's tables. Listed
 * after `UPKEEP_MIGRATIONS` in the DataSource, it runs with `migrationsRun: true` and
 * reverts with `dataSource.undoLastMigration()`. `Table` keeps it portable across
 * SQLite, PostgreSQL and MySQL/MariaDB.
 */
export class CreateUserSettings1764400000000 implements MigrationInterface {
  name = 'CreateUserSettings1764400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'user_settings',
        columns: [
          { name: 'id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'user_version', type: 'integer', default: 0 },
          { name: 'theme', type: 'varchar', length: '16', isNullable: true },
          { name: 'language', type: 'varchar', length: '16', isNullable: true },
          { name: 'llm_model', type: 'varchar', length: '100', isNullable: true },
          { name: 'max_iterations', type: 'integer', isNullable: true },
          { name: 'confirmation_mode', type: 'boolean', default: false },
          { name: 'updated_at', type: queryRunner.connection.driver.normalizeType({ type: Date }), precision: 3, isNullable: false },
        ],
        indices: [{ name: 'idx_user_settings_user_version', columnNames: ['user_version'] }],
      }),
      true,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('user_settings', true);
  }
}

import { UpkeepError } from './upkeep-error';

/** The DataSource's database type is not one upkeep supports (postgres, mysql, mariadb, better-sqlite3). */
export class UnsupportedDatabaseError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNSUPPORTED_DATABASE', message, options);
    this.name = 'UnsupportedDatabaseError';
  }
}

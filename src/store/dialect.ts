import type { DataSource } from 'typeorm';
import { UnsupportedDatabaseError } from '../core/errors';

/** SQL family upkeep speaks: PostgreSQL, MySQL/MariaDB, or SQLite. */
export type Dialect = 'postgres' | 'mysql' | 'sqlite';

/** The dialect of a DataSource (or anything with its `options.type`). */
export function dialectOf(source: Pick<DataSource, 'options'>): Dialect {
  const type = source.options.type;
  switch (type) {
    case 'postgres':
    case 'cockroachdb':
      return 'postgres';
    case 'mysql':
    case 'mariadb':
    case 'aurora-mysql':
      return 'mysql';
    case 'better-sqlite3':
    case 'sqljs':
    case 'capacitor':
    case 'expo':
    case 'react-native':
    case 'cordova':
    case 'nativescript':
      return 'sqlite';
    default:
      throw new UnsupportedDatabaseError(
        `upkeep supports postgres, mysql, mariadb and better-sqlite3 DataSources, got "${String(type)}"`,
      );
  }
}

/** Encodes values as each driver wants them and decodes what comes back. */
export class SqlCodec {
  constructor(readonly dialect: Dialect) {}

  /** Quotes an identifier. */
  id(name: string): string {
    return this.dialect === 'mysql' ? `\`${name}\`` : `"${name}"`;
  }

  /** Rewrites `?` placeholders to `$1, $2, ...` on PostgreSQL. */
  sql(text: string): string {
    if (this.dialect !== 'postgres') return text;
    let n = 0;
    return text.replace(/\?/g, () => `$${++n}`);
  }

  /** A date parameter: SQLite stores TypeORM's UTC text form, the others take Date. */
  date(value: Date | null | undefined): Date | string | null {
    if (value == null) return null;
    if (this.dialect !== 'sqlite') return value;
    return value.toISOString().replace('T', ' ').replace('Z', '');
  }

  /** A boolean parameter (better-sqlite3 cannot bind booleans). */
  bool(value: boolean): boolean | number {
    return this.dialect === 'sqlite' ? (value ? 1 : 0) : value;
  }

  /** A JSON parameter. */
  json(value: unknown): string | null {
    return value === undefined || value === null ? null : JSON.stringify(value);
  }

  /** Reads a date column. */
  readDate(value: unknown): Date | null {
    if (value == null) return null;
    if (value instanceof Date) return value;
    if (typeof value === 'string') {
      const iso = /^\d{4}-\d\d-\d\d \d/.test(value) ? value.replace(' ', 'T') : value;
      return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
    }
    return new Date(value as number);
  }

  /** Reads a JSON column (MariaDB and SQLite return text). */
  readJson<T>(value: unknown): T | null {
    if (value == null) return null;
    if (typeof value === 'string') return JSON.parse(value) as T;
    return value as T;
  }

  /** Reads an integer column (PostgreSQL returns bigint and counts as strings). */
  readInt(value: unknown): number | null {
    if (value == null) return null;
    return typeof value === 'number' ? value : Number(value);
  }

  /** Reads a boolean column. */
  readBool(value: unknown): boolean {
    return value === true || value === 1 || value === '1' || value === 't';
  }

  /** `IN (?, ?, ...)` placeholders for `count` values. */
  list(count: number): string {
    return `(${new Array(count).fill('?').join(', ')})`;
  }
}

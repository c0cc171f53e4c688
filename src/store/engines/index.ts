import type { Dialect } from '../dialect';
import type { StoreEngine } from './engine';
import { mysqlEngine } from './mysql';
import { postgresEngine } from './postgres';
import { sqliteEngine } from './sqlite';

export type { Fragment, ParamType, StoreEngine } from './engine';

const ENGINES: Record<Dialect, StoreEngine> = { postgres: postgresEngine, mysql: mysqlEngine, sqlite: sqliteEngine };

/** The engine of a dialect. */
export function engineFor(dialect: Dialect): StoreEngine {
  return ENGINES[dialect];
}

/** The engine of an executor's dialect. */
export function engineOf(db: { readonly dialect: Dialect }): StoreEngine {
  return ENGINES[db.dialect];
}

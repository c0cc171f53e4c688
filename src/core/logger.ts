/** Minimal structured logger; pass your own (pino, winston, console) to `Upkeep`. */
export interface UpkeepLogger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];

/** A console logger that prints `level` and above (default: warn). */
export function consoleLogger(level: Level = 'warn'): UpkeepLogger {
  const min = LEVELS.indexOf(level);
  const make = (l: Level) => (message: string, meta?: Record<string, unknown>) => {
    if (LEVELS.indexOf(l) < min) return;
    // eslint-disable-next-line no-console
    console[l === 'debug' ? 'log' : l](`[upkeep] ${l}: ${message}`, ...(meta ? [meta] : []));
  };
  return { debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error') };
}

/** A logger that adds `meta` to every line. */
export function childLogger(parent: UpkeepLogger, meta: Record<string, unknown>): UpkeepLogger {
  const wrap = (fn: UpkeepLogger['info']) => (message: string, extra?: Record<string, unknown>) => fn(message, { ...meta, ...extra });
  return { debug: wrap(parent.debug), info: wrap(parent.info), warn: wrap(parent.warn), error: wrap(parent.error) };
}

/**
 * Minimal structured logger: `(message, meta?)` per level. `Upkeep` also takes pino, bunyan,
 * winston and `console` as they are (see {@link toUpkeepLogger}); `child(bindings)`, when
 * present, returns a logger that adds `bindings` to every line.
 */
export interface UpkeepLogger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
  /** A logger that adds `bindings` to every line (loggers made by upkeep always have it). */
  child?(bindings: Record<string, unknown>): UpkeepLogger;
  /** Whether a line at `level` would be written now (asked per line, so runtime level changes count); absent means yes. Loggers made by upkeep always have it. */
  isLevelEnabled?(level: 'debug' | 'info' | 'warn' | 'error'): boolean;
}

/**
 * How a host logger takes its arguments:
 * - `pino` and `bunyan`: `(obj, msg)`, bindings through `.child(obj)`;
 * - `winston`: `(msg, meta)`, bindings through `.child(meta)`;
 * - `console`: `(msg, meta)` printed as they are, bindings merged into `meta`;
 * - `upkeep`: an {@link UpkeepLogger} (`(msg, meta)`), `.child()` used when present.
 */
export type LoggerStyle = 'pino' | 'bunyan' | 'winston' | 'console' | 'upkeep';

/** Options of {@link toUpkeepLogger}. */
export interface ToUpkeepLoggerOptions {
  /** Declares the logger's style instead of detecting it. @defaultValue detected by {@link detectLoggerStyle} */
  style?: LoggerStyle;
}

/** A log method of any of the supported loggers. */
type AnyLogMethod = (...args: never[]) => unknown;
/** Any logger with the four level methods (pino, bunyan, winston, console, an {@link UpkeepLogger}). */
export type HostLogger = { debug: AnyLogMethod; info: AnyLogMethod; warn: AnyLogMethod; error: AnyLogMethod };

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];
type Meta = Record<string, unknown>;
type Loose = Record<string, unknown> & { [K in Level]: (...args: unknown[]) => unknown } & { child?: (bindings: Meta) => unknown };

const ADAPTED = Symbol.for('upkeep.logger.adapted');
/** bunyan's level numbers (`logger.level()` returns the lowest level any stream writes). */
const BUNYAN_LEVELS: Record<Level, number> = { debug: 20, info: 30, warn: 40, error: 50 };

/**
 * `isLevelEnabled` of an adapted logger: asks the target on every call (pino's
 * `logger.level = 'info'` and the like change the answer at runtime), yes when it cannot say.
 */
function levelCheck(target: Loose, style: LoggerStyle): (level: Level) => boolean {
  switch (style) {
    case 'console':
      return () => true;
    case 'bunyan':
      return (level) => {
        const lowest: unknown = typeof target.level === 'function' ? (target.level as () => unknown).call(target) : undefined;
        return typeof lowest === 'number' ? BUNYAN_LEVELS[level] >= lowest : true;
      };
    default:
      // pino, winston and UpkeepLoggers all spell it isLevelEnabled(level).
      return (level) => (typeof target.isLevelEnabled === 'function' ? (target.isLevelEnabled as (l: Level) => boolean).call(target, level) !== false : true);
  }
}

/** A console logger that prints `level` and above (default: warn). */
export function consoleLogger(level: Level = 'warn'): UpkeepLogger {
  const min = LEVELS.indexOf(level);
  const build = (bindings: Meta | undefined): UpkeepLogger => {
    const make = (l: Level) => (message: string, meta?: Meta) => {
      if (LEVELS.indexOf(l) < min) return;
      const merged = bindings || meta ? { ...bindings, ...meta } : undefined;
      // eslint-disable-next-line no-console
      console[l === 'debug' ? 'log' : l](`[upkeep] ${l}: ${message}`, ...(merged ? [merged] : []));
    };
    return {
      debug: make('debug'),
      info: make('info'),
      warn: make('warn'),
      error: make('error'),
      child: (extra) => build({ ...bindings, ...extra }),
      isLevelEnabled: (l) => LEVELS.indexOf(l) >= min,
    };
  };
  return build(undefined);
}

/**
 * Tells a logger's style from its shape: bunyan has `addStream`, pino has `bindings()` and
 * `levels.values`, winston has `transports` and `log(level, ...)`, `console` is a `Console`;
 * anything else is taken as an {@link UpkeepLogger}.
 */
export function detectLoggerStyle(logger: HostLogger): LoggerStyle {
  const l = logger as unknown as Loose;
  const marked = (l as { [ADAPTED]?: unknown })[ADAPTED];
  if (marked) return 'upkeep';
  if (typeof l.addStream === 'function' && Array.isArray(l.streams)) return 'bunyan';
  if (typeof l.bindings === 'function' && typeof l.child === 'function' && typeof (l.levels as { values?: unknown } | undefined)?.values === 'object') return 'pino';
  if (typeof l.log === 'function' && typeof l.add === 'function' && 'transports' in l) return 'winston';
  if (logger === (console as unknown) || l.constructor?.name === 'Console' || (typeof l.table === 'function' && typeof l.group === 'function')) return 'console';
  return 'upkeep';
}

/**
 * Wraps pino, bunyan, winston, `console` or an {@link UpkeepLogger} so upkeep can call it as
 * `(message, meta)`: metadata reaches pino and bunyan as their first argument, winston and
 * console as their second. `child(bindings)` uses the logger's own `.child()` (real bindings
 * in pino, bunyan and winston) or merges the bindings into every line's metadata.
 */
export function toUpkeepLogger(logger: HostLogger, options: ToUpkeepLoggerOptions = {}): UpkeepLogger {
  if (!logger || typeof logger !== 'object' || LEVELS.some((l) => typeof (logger as unknown as Loose)[l] !== 'function')) {
    throw new TypeError('logger must have debug, info, warn and error methods (pino, bunyan, winston, console or an UpkeepLogger)');
  }
  if ((logger as { [ADAPTED]?: unknown })[ADAPTED] && !options.style) return logger as unknown as UpkeepLogger;
  return adapt(logger as unknown as Loose, options.style ?? detectLoggerStyle(logger), undefined);
}

function adapt(target: Loose, style: LoggerStyle, merged: Meta | undefined): UpkeepLogger {
  const objectFirst = style === 'pino' || style === 'bunyan';
  const call = (level: Level) => (message: string, meta?: Meta) => {
    const fields = merged || meta ? { ...merged, ...meta } : undefined;
    const fn = target[level];
    if (objectFirst) fields ? fn.call(target, fields, message) : fn.call(target, message);
    else fields ? fn.call(target, message, fields) : fn.call(target, message);
  };
  const out: UpkeepLogger & { [ADAPTED]: LoggerStyle } = {
    debug: call('debug'),
    info: call('info'),
    warn: call('warn'),
    error: call('error'),
    child(bindings: Meta): UpkeepLogger {
      const nativeChild = style !== 'console' && typeof target.child === 'function';
      if (nativeChild) {
        const child = target.child!(bindings) as Loose;
        // An UpkeepLogger's child is already an UpkeepLogger: keep merged fields of ours on top.
        return adapt(child, style === 'upkeep' ? detectLoggerStyle(child as unknown as HostLogger) : style, merged);
      }
      return adapt(target, style, { ...merged, ...bindings });
    },
    isLevelEnabled: levelCheck(target, style),
    [ADAPTED]: style,
  };
  return out;
}

/**
 * A logger that adds `meta` to every line: the logger's own `.child(meta)` for pino, bunyan
 * and winston (real bindings), merged metadata for console and plain loggers.
 */
export function childLogger(parent: UpkeepLogger | HostLogger, meta: Record<string, unknown>): UpkeepLogger {
  return toUpkeepLogger(parent as HostLogger).child!(meta);
}

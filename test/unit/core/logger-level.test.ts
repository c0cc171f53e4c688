import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { childLogger, consoleLogger, toUpkeepLogger, type UpkeepLogger } from '../../../src';

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
const enabled = (log: UpkeepLogger) => LEVELS.filter((l) => log.isLevelEnabled!(l));

function silentPino(level: string) {
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  return pino({ level }, sink);
}

// winston and bunyan are not installed (only pino is, as a transitive dependency): these
// stand-ins have the shape detection keys on and the level API of the real ones — winston's
// isLevelEnabled(level) over its `level` property, bunyan's level() returning the numeric level
// (debug 20, info 30, warn 40, error 50) of the logger, children with their own level.
function winstonLike(level: string) {
  const order: Record<string, number> = { error: 0, warn: 1, info: 2, debug: 5 };
  const logger = {
    level,
    transports: [],
    add() {},
    log() {},
    debug() {},
    info() {},
    warn() {},
    error() {},
    isLevelEnabled(l: string) {
      return order[l]! <= order[logger.level]!;
    },
    child: () => logger,
  };
  return logger;
}
function bunyanLike(level: number) {
  let current = level;
  const logger = {
    streams: [],
    addStream() {},
    debug() {},
    info() {},
    warn() {},
    error() {},
    level(set?: number) {
      if (set === undefined) return current;
      current = set;
      return undefined;
    },
    child: () => bunyanLike(current),
  };
  return logger;
}

describe('UpkeepLogger.isLevelEnabled (src/core/logger.ts)', () => {
  it('consoleLogger answers from its min level, children included', () => {
    const log = consoleLogger('warn');
    expect(log.isLevelEnabled!('info')).toBe(false);
    expect(log.isLevelEnabled!('debug')).toBe(false);
    expect(log.isLevelEnabled!('warn')).toBe(true);
    expect(log.isLevelEnabled!('error')).toBe(true);
    expect(enabled(log.child!({ taskId: 't' }))).toEqual(['warn', 'error']);
    expect(enabled(consoleLogger('debug'))).toEqual(['debug', 'info', 'warn', 'error']);
    expect(enabled(consoleLogger())).toEqual(['warn', 'error']);
  });

  it('pino: answers from the real logger and follows a level changed at runtime', () => {
    const p = silentPino('warn');
    const log = toUpkeepLogger(p);
    expect(enabled(log)).toEqual(['warn', 'error']);
    p.level = 'info';
    expect(enabled(log)).toEqual(['info', 'warn', 'error']);
    p.level = 'silent';
    expect(enabled(log)).toEqual([]);
    p.level = 'error';
    const child = childLogger(p, { taskId: 't1' });
    expect(enabled(child)).toEqual(['error']);
  });

  it('winston: isLevelEnabled(level) of the target, per call', () => {
    const w = winstonLike('warn');
    const log = toUpkeepLogger(w);
    expect(enabled(log)).toEqual(['warn', 'error']);
    w.level = 'debug';
    expect(enabled(log)).toEqual(['debug', 'info', 'warn', 'error']);
    expect(enabled(childLogger(w, { a: 1 }))).toEqual(['debug', 'info', 'warn', 'error']);
  });

  it('bunyan: enabled when the level number is at least level(), per call', () => {
    const b = bunyanLike(40);
    const log = toUpkeepLogger(b);
    expect(enabled(log)).toEqual(['warn', 'error']);
    b.level(30);
    expect(enabled(log)).toEqual(['info', 'warn', 'error']);
    b.level(60);
    expect(enabled(log)).toEqual([]);
    b.level(50);
    expect(enabled(childLogger(b, { a: 1 }))).toEqual(['error']);
  });

  it('console is always enabled; plain loggers delegate to their own isLevelEnabled or say yes', () => {
    expect(enabled(toUpkeepLogger(console))).toEqual(['debug', 'info', 'warn', 'error']);
    const noop = () => {};
    expect(enabled(toUpkeepLogger({ debug: noop, info: noop, warn: noop, error: noop }))).toEqual(['debug', 'info', 'warn', 'error']);
    let min = 2;
    const plain = { debug: noop, info: noop, warn: noop, error: noop, isLevelEnabled: (l: (typeof LEVELS)[number]) => LEVELS.indexOf(l) >= min };
    const log = toUpkeepLogger(plain);
    expect(enabled(log)).toEqual(['warn', 'error']);
    min = 1;
    expect(enabled(log)).toEqual(['info', 'warn', 'error']);
    // A child merged into metadata (no own child()) keeps asking the same target.
    expect(enabled(childLogger(plain, { a: 1 }))).toEqual(['info', 'warn', 'error']);
    // consoleLogger wrapped by toUpkeepLogger (the default logger of Upkeep) keeps its answer.
    expect(enabled(toUpkeepLogger(consoleLogger('warn')))).toEqual(['warn', 'error']);
    expect(enabled(childLogger(consoleLogger('warn'), { a: 1 }))).toEqual(['warn', 'error']);
  });
});

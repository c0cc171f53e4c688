import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { childLogger, consoleLogger, detectLoggerStyle, toUpkeepLogger, type UpkeepLogger } from '../../../src';

/** A real pino logger writing JSON lines into an array. */
function capturedPino(level = 'debug') {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

// winston and bunyan are not installed here: these stand-ins have their public shape and
// argument order (winston: log(level, msg, meta), child() merging defaultMeta; bunyan:
// (fields, msg), child(fields), streams/addStream), recording calls as the real ones take them.
function winstonLike(defaultMeta: Record<string, unknown> = {}, calls: Array<{ level: string; message: string; meta: Record<string, unknown> }> = []) {
  const method = (level: string) => (message: string, meta: Record<string, unknown> = {}) => {
    if (typeof message !== 'string') throw new Error('winston stand-in: message must come first');
    calls.push({ level, message, meta: { ...defaultMeta, ...meta } });
  };
  return {
    calls,
    transports: [],
    add() {},
    log: (level: string, message: string, meta?: Record<string, unknown>) => method(level)(message, meta),
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    child: (meta: Record<string, unknown>) => winstonLike({ ...defaultMeta, ...meta }, calls),
  };
}
function bunyanLike(fields: Record<string, unknown> = {}, calls: Array<{ level: string; fields: Record<string, unknown>; msg: string }> = []) {
  const method = (level: string) => (a: unknown, b?: string) => {
    if (typeof a === 'string') calls.push({ level, fields: { ...fields }, msg: a });
    else calls.push({ level, fields: { ...fields, ...(a as object) }, msg: b ?? '' });
  };
  return {
    calls,
    streams: [],
    addStream() {},
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    child: (extra: Record<string, unknown>) => bunyanLike({ ...fields, ...extra }, calls),
  };
}

describe('toUpkeepLogger / childLogger (src/core/logger.ts)', () => {
  it('detects pino, bunyan, winston, console and plain loggers', () => {
    expect(detectLoggerStyle(capturedPino().logger)).toBe('pino');
    expect(detectLoggerStyle(bunyanLike())).toBe('bunyan');
    expect(detectLoggerStyle(winstonLike())).toBe('winston');
    expect(detectLoggerStyle(console)).toBe('console');
    expect(detectLoggerStyle({ debug() {}, info() {}, warn() {}, error() {} })).toBe('upkeep');
  });

  it("pino: metadata arrives as fields (obj, msg), not dropped; child() makes real pino bindings", () => {
    const { logger, lines } = capturedPino();
    const log = toUpkeepLogger(logger);
    log.info('hello', { rows: 3 });
    log.warn('plain');
    const child = childLogger(logger, { taskId: 't1', processorType: 'sum' });
    child.error('it failed', { reason: 'processor_error' });
    expect(lines[0]).toMatchObject({ level: 30, msg: 'hello', rows: 3 });
    expect(lines[1]).toMatchObject({ level: 40, msg: 'plain' });
    expect(lines[2]).toMatchObject({ level: 50, msg: 'it failed', taskId: 't1', processorType: 'sum', reason: 'processor_error' });
    // Without the adapter, pino treats the meta object as a format argument and drops it.
    logger.info('raw', { rows: 3 } as never);
    expect(lines[3]).not.toHaveProperty('rows');
  });

  it('pino declared explicitly works for a logger detection would not recognise', () => {
    const calls: unknown[][] = [];
    const record = (...args: unknown[]) => calls.push(args);
    const log = toUpkeepLogger({ debug: record, info: record, warn: record, error: record }, { style: 'pino' });
    log.info('m', { a: 1 });
    expect(calls).toEqual([[{ a: 1 }, 'm']]);
  });

  it('winston: (msg, meta) and child() through defaultMeta', () => {
    const w = winstonLike();
    const child = childLogger(w, { taskId: 't2' });
    child.info('done', { durationMs: 5 });
    toUpkeepLogger(w).warn('careful');
    expect(w.calls).toEqual([
      { level: 'info', message: 'done', meta: { taskId: 't2', durationMs: 5 } },
      { level: 'warn', message: 'careful', meta: {} },
    ]);
  });

  it('bunyan: (fields, msg) and child(fields)', () => {
    const b = bunyanLike();
    childLogger(b, { taskId: 't3' }).info('started', { attempt: 1 });
    expect(b.calls).toEqual([{ level: 'info', fields: { taskId: 't3', attempt: 1 }, msg: 'started' }]);
  });

  it('console and plain loggers get the bindings merged into every line, nested children included', () => {
    const lines: unknown[][] = [];
    const plain: UpkeepLogger = { debug: (...a) => lines.push(['debug', ...a]), info: (...a) => lines.push(['info', ...a]), warn: (...a) => lines.push(['warn', ...a]), error: (...a) => lines.push(['error', ...a]) };
    const child = childLogger(plain, { taskId: 't4' }).child!({ attempt: 2 });
    child.info('x', { y: 1 });
    child.debug('bare');
    expect(lines).toEqual([
      ['info', 'x', { taskId: 't4', attempt: 2, y: 1 }],
      ['debug', 'bare', { taskId: 't4', attempt: 2 }],
    ]);
  });

  it('consoleLogger has child() with bindings and filters by level', () => {
    const seen: unknown[][] = [];
    const original = console.warn;
    console.warn = (...args: unknown[]) => void seen.push(args);
    try {
      const log = consoleLogger('warn').child!({ taskId: 't5' });
      log.info('hidden');
      log.warn('shown', { n: 1 });
    } finally {
      console.warn = original;
    }
    expect(seen).toEqual([['[upkeep] warn: shown', { taskId: 't5', n: 1 }]]);
  });

  it('rejects something that is not a logger, naming what is missing', () => {
    expect(() => toUpkeepLogger({ info() {} } as never)).toThrow(/debug, info, warn and error/);
  });
});

import { describe, expect, it } from 'vitest';
import { attachLifecycleLogger, consoleLogger, UpkeepEvents, type MaintenanceTask, type UpkeepLogger } from '../../../src';

type Line = { level: string; message: string; meta?: Record<string, unknown> };

/**
 * A logger with info (and debug) off: isLevelEnabled says so, and info/debug throw, so a line
 * built at those levels shows up as a runner:error from the emitter (which catches listeners).
 */
function infoOff(): { logger: UpkeepLogger; lines: Line[]; asked: string[] } {
  const lines: Line[] = [];
  const asked: string[] = [];
  const refuse = (level: string) => () => {
    throw new Error(`${level} must not be called when it is disabled`);
  };
  const keep = (level: string) => (message: string, meta?: Record<string, unknown>) => void lines.push({ level, message, meta });
  return {
    lines,
    asked,
    logger: {
      debug: refuse('debug'),
      info: refuse('info'),
      warn: keep('warn'),
      error: keep('error'),
      isLevelEnabled: (level) => (asked.push(level), level === 'warn' || level === 'error'),
    },
  };
}

/** A task whose fields count their reads: a line built for it (message or metadata) reads them. */
function countingTask(id: string): { task: MaintenanceTask; reads: () => number } {
  let reads = 0;
  const task = { id, attempts: 1 } as Record<string, unknown>;
  for (const [key, value] of Object.entries({ processorType: 'sum', maxAttempts: 3, assignedDevice: 'cpu' })) {
    Object.defineProperty(task, key, { get: () => (reads++, value), enumerable: true });
  }
  return { task: task as unknown as MaintenanceTask, reads: () => reads };
}

function harness() {
  const events = new UpkeepEvents();
  const listenerErrors: string[] = [];
  events.on('runner:error', ({ error }) => void listenerErrors.push(error.message));
  let clock = 1_000;
  const { logger, lines, asked } = infoOff();
  const detach = attachLifecycleLogger(events, logger, { now: () => clock });
  return { events, lines, asked, listenerErrors, detach, advance: (ms: number) => void (clock += ms) };
}

describe('attachLifecycleLogger with the lifecycle level disabled (src/core/lifecycle-logger.ts)', () => {
  it('never calls info nor builds a start, completed, paused, released or runner line', () => {
    const h = harness();
    const { task, reads } = countingTask('t1');
    h.events.emit('runner:started', { runnerId: 'r1', concurrency: 2, processorTypes: ['sum'] } as never);
    h.events.emit('task:started', { task, runnerId: 'r1', attempt: 1 });
    h.events.emit('task:completed', { task, info: null, durationMs: 5 });
    h.events.emit('task:started', { task, runnerId: 'r1', attempt: 1 });
    h.events.emit('task:paused', { task });
    h.events.emit('task:started', { task, runnerId: 'r1', attempt: 1 });
    h.events.emit('task:released', { task, reason: 'shutdown' });
    h.events.emit('runner:stopped', { runnerId: 'r1', handedBack: 0 } as never);
    expect(h.listenerErrors).toEqual([]);
    expect(h.lines).toEqual([]);
    expect(reads()).toBe(0);
    expect(h.asked.every((l) => l === 'info')).toBe(true);
    expect(h.asked.length).toBeGreaterThan(0);
  });

  it('a failure at warn after a start with info off still carries the duration', () => {
    const h = harness();
    const { task } = countingTask('t2');
    h.events.emit('task:started', { task, runnerId: 'r1', attempt: 1 });
    h.advance(250);
    h.events.emit('task:failed', { task, error: { name: 'Error', message: 'boom' }, reason: 'processor_error', willRetry: true, retryAt: new Date(0) } as never);
    h.events.emit('task:started', { task, runnerId: 'r1', attempt: 2 });
    h.advance(40);
    h.events.emit('task:cancelled', { task, reason: 'cancelled', by: 'admin' } as never);
    h.events.emit('task:started', { task, runnerId: 'r1', attempt: 3 });
    h.advance(7);
    h.events.emit('task:lease-expired', { task, previousRunner: 'r1', requeued: false });
    expect(h.listenerErrors).toEqual([]);
    expect(h.lines.map((l) => [l.level, l.meta?.durationMs, l.meta?.outcome])).toEqual([
      ['warn', 250, 'failed'],
      ['warn', 40, 'cancelled'],
      ['error', 7, 'lease-expired'],
    ]);
    expect(h.lines[0]!.message).toContain('after 250 ms');
  });

  it('tasks that end while info is off leave no start time behind', () => {
    const h = harness();
    const n = 1_000;
    const ends = ['task:completed', 'task:paused', 'task:released'] as const;
    for (let i = 0; i < n; i++) {
      const task = { id: `t${i}`, processorType: 'sum', attempts: 1, maxAttempts: 3, assignedDevice: null } as unknown as MaintenanceTask;
      h.events.emit('task:started', { task, runnerId: 'r1', attempt: 1 });
      h.events.emit(ends[i % 3]!, { task, info: null, durationMs: 1, reason: 'shutdown' } as never);
    }
    h.advance(100);
    // No entry left: a later failure of any of them (no new start) has no duration to report.
    for (let i = 0; i < n; i++) {
      const task = { id: `t${i}`, processorType: 'sum', attempts: 1, maxAttempts: 3, assignedDevice: null } as unknown as MaintenanceTask;
      h.events.emit('task:failed', { task, error: { name: 'Error', message: 'late' }, reason: 'processor_error', willRetry: false } as never);
    }
    expect(h.listenerErrors).toEqual([]);
    expect(h.lines).toHaveLength(n);
    expect(h.lines.filter((l) => l.meta?.durationMs !== null)).toEqual([]);
  });

  it('the default consoleLogger("warn") prints nothing for info lines and the failure line with its duration', () => {
    const events = new UpkeepEvents();
    const seen: unknown[][] = [];
    const original = { info: console.info, warn: console.warn, error: console.error };
    console.info = (...a: unknown[]) => void seen.push(['info', ...a]);
    console.warn = (...a: unknown[]) => void seen.push(['warn', ...a]);
    console.error = (...a: unknown[]) => void seen.push(['error', ...a]);
    let clock = 0;
    try {
      attachLifecycleLogger(events, consoleLogger('warn'), { now: () => clock });
      const task = { id: 't1', processorType: 'sum', attempts: 1, maxAttempts: 1, assignedDevice: null } as unknown as MaintenanceTask;
      events.emit('task:started', { task, runnerId: 'r1', attempt: 1 });
      clock = 12;
      events.emit('task:failed', { task, error: { name: 'Error', message: 'x' }, reason: 'processor_error', willRetry: false } as never);
    } finally {
      Object.assign(console, original);
    }
    expect(seen).toEqual([['error', '[upkeep] error: task t1 (sum) failed (processor_error) after 12 ms: x; no attempts left', expect.objectContaining({ durationMs: 12 })]]);
  });
});

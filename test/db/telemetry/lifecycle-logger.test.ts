import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { MaintenanceTaskProcessor, Processor, Upkeep, type MaintenanceTask, type TaskContext, type UpkeepLogger } from '../../../src';
import { databaseProblem, openTestDataSource, TEST_DB } from '../../helpers/db';

const problem = await databaseProblem();

@Processor('log-ok')
class OkProcessor extends MaintenanceTaskProcessor {
  process(_task: MaintenanceTask, ctx: TaskContext) {
    ctx.logger.info('inside the processor', { step: 1 });
    return { processed: true };
  }
}

@Processor('log-fail', { maxAttempts: 1 })
class FailProcessor extends MaintenanceTaskProcessor {
  process(): never {
    throw new Error('Test error');
  }
}

type Line = { level: string; message: string; meta?: Record<string, unknown> };

/** A capturing logger at info level (debug lines are dropped, as an info-level logger does). */
function capturing(): { logger: UpkeepLogger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (message: string, meta?: Record<string, unknown>) => {
    if (level !== 'debug') lines.push({ level, message, meta });
  };
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

describe.skipIf(problem)(`lifecycle logging on ${TEST_DB}`, () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ dataSource, close } = await openTestDataSource());
  });
  afterAll(async () => close?.());

  it('logs runner start, task start, completion, failure (error, with the reason) and runner stop with the task id', async () => {
    const { logger, lines } = capturing();
    // The facade attaches the lifecycle logger itself: no extra wiring by the host.
    const upkeep = new Upkeep({ dataSource, processors: [OkProcessor, FailProcessor], logger });
    const ok = await upkeep.createTask(OkProcessor.create({}));
    const bad = await upkeep.createTask(FailProcessor.create({}));
    await upkeep.runDue();
    await upkeep.close();

    const runnerStart = lines.findIndex((l) => /^runner \S+ started/.test(l.message));
    const runnerStop = lines.findIndex((l) => /^runner \S+ stopped/.test(l.message));
    expect(runnerStart).toBeGreaterThanOrEqual(0);
    expect(runnerStop).toBeGreaterThan(runnerStart);

    const okLines = lines.filter((l) => l.meta?.taskId === ok.id);
    expect(okLines.map((l) => [l.level, l.message.replace(ok.id, 'ID')])).toEqual([
      ['info', expect.stringMatching(/^task ID \(log-ok\) started: attempt 1 of 3 on \S+/)],
      ['info', 'inside the processor'],
      ['info', expect.stringMatching(/^task ID \(log-ok\) completed after \d+ ms$/)],
    ]);
    expect(okLines[0]!.meta).toMatchObject({ taskId: ok.id, processorType: 'log-ok', attempt: 1 });
    expect(okLines[0]!.meta).toHaveProperty('device');
    // ctx.logger carries the task's fields as bindings.
    expect(okLines[1]!.meta).toMatchObject({ taskId: ok.id, processorType: 'log-ok', step: 1 });
    expect(okLines[2]!.meta).toMatchObject({ taskId: ok.id, processorType: 'log-ok', attempt: 1, outcome: 'completed' });
    expect(typeof okLines[2]!.meta!.durationMs).toBe('number');

    const badLines = lines.filter((l) => l.meta?.taskId === bad.id);
    const failure = badLines.find((l) => l.meta?.outcome === 'failed')!;
    expect(failure.level).toBe('error');
    expect(failure.message).toContain(bad.id);
    expect(failure.message).toContain('Test error');
    expect(failure.meta).toMatchObject({ taskId: bad.id, processorType: 'log-fail', attempt: 1, reason: 'processor_error', willRetry: false, error: 'Test error' });
    expect(runnerStop).toBeGreaterThan(lines.indexOf(failure));
  });

  it('a retried failure is a warn line with the retry time; a real pino logger gets the fields, not a dropped object', async () => {
    const records: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n')) if (line.trim()) records.push(JSON.parse(line));
        done();
      },
    });
    const log = pino({ level: 'info' }, sink);
    const upkeep = new Upkeep({ dataSource, processors: [FailProcessor], logger: log, settings: { retry: { initialDelayMs: 60_000 } } });
    const task = await upkeep.createTask(FailProcessor.create({}), { maxAttempts: 2 });
    await upkeep.runDue();
    await upkeep.close();
    const failed = records.find((r) => r.taskId === task.id && r.outcome === 'failed')!;
    expect(failed).toMatchObject({ level: 40, processorType: 'log-fail', attempt: 1, willRetry: true, reason: 'processor_error', error: 'Test error' });
    expect(String(failed.msg)).toMatch(/retry at \d{4}-/);
    expect(records.some((r) => r.taskId === task.id && String(r.msg).includes('started'))).toBe(true);
  });
});

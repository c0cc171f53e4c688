// The admin API serves a task's outcome as stored (info as the seed has it), what the runner
// recorded (runnerInfo), and never the stack last_error keeps.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MaintenanceTaskProcessor, Processor, Upkeep, createAdminHandler, type MaintenanceTask } from '../../../src';
import { databaseProblem, openTestDataSource, TEST_DB } from '../../helpers/db';
import { headerAuthorize } from './admin-fixtures';

const problem = await databaseProblem();

@Processor('admin-info-flaky', { maxAttempts: 2 })
class FlakyProcessor extends MaintenanceTaskProcessor {
  process(task: MaintenanceTask) {
    throw new Error(`attempt ${task.attempts} fails`);
  }
}

@Processor('admin-info-ok')
class OkProcessor extends MaintenanceTaskProcessor {
  process() {
    return { processed: true };
  }
}

describe.skipIf(problem)(`admin task detail: info, runnerInfo, no stack (${TEST_DB})`, () => {
  let env: Awaited<ReturnType<typeof openTestDataSource>>;
  let upkeep: Upkeep;
  let get: (path: string) => Promise<Record<string, unknown>>;

  beforeAll(async () => {
    env = await openTestDataSource();
    upkeep = new Upkeep({ dataSource: env.dataSource, processors: [FlakyProcessor, OkProcessor], settings: { retry: { initialDelayMs: 1, jitter: 0 } } });
    const handler = createAdminHandler(upkeep, { authorize: headerAuthorize });
    get = async (path) => (await handler({ method: 'GET', path, query: {}, headers: { 'x-role': 'viewer' } })).body as Record<string, unknown>;
  });
  afterAll(async () => {
    await upkeep?.close();
    await env?.close();
  });

  it('a failed task: info is { error, errorName, attempt }, errorHistory from runnerInfo, lastError without the stack', async () => {
    const task = await upkeep.createTask(FlakyProcessor.create({}));
    for (let i = 0; i < 3; i++) {
      await upkeep.runDue();
      await new Promise((r) => setTimeout(r, 5));
    }
    const stored = (await upkeep.getTask(task.id))!;
    expect(stored.status).toBe('ERROR');
    expect(stored.lastError).toMatch(/^attempt 2 fails\n\s+at /); // the stack is stored ...
    const detail = await get(`/tasks/${task.id}`);
    expect(detail.info).toEqual({ error: 'attempt 2 fails', errorName: 'Error', attempt: 2 });
    expect(detail.lastError).toBe('attempt 2 fails'); // ... and never served
    expect(detail.lastErrorDetail).toEqual({ name: 'Error', message: 'attempt 2 fails', code: null, attempt: 2 });
    expect((detail.errorHistory as Array<{ message: string }>).map((a) => a.message)).toEqual(['attempt 1 fails', 'attempt 2 fails']);
    expect(detail.runnerInfo).toMatchObject({ attempts: detail.errorHistory });
    expect(JSON.stringify(detail)).not.toMatch(/\n\s+at /);
    const list = (await get('/tasks')).items as Array<{ id: string; lastError: string | null }>;
    expect(list.find((t) => t.id === task.id)!.lastError).toBe('attempt 2 fails');
  });

  it('a completed task: info is the returned object, no error detail', async () => {
    const task = await upkeep.createTask(OkProcessor.create({}));
    await upkeep.runDue();
    const detail = await get(`/tasks/${task.id}`);
    expect(detail).toMatchObject({ status: 'COMPLETED', info: { processed: true }, lastErrorDetail: null, errorHistory: [], runnerInfo: null });
  });
});

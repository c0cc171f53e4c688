import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { MaintenanceTaskProcessor, Processor, Upkeep } from '../../../src';
import { registerUpkeepMetrics } from '../../../src/integrations/prometheus';
import { databaseProblem, openTestDataSource, TEST_DB } from '../../helpers/db';

const problem = await databaseProblem();

@Processor('prom-ok')
class Ok extends MaintenanceTaskProcessor {
  process() {
    return { processed: true };
  }
}
@Processor('prom-fail', { maxAttempts: 2 })
class Fail extends MaintenanceTaskProcessor {
  process(): never {
    throw new Error('nope');
  }
}

describe.skipIf(problem)(`upkeep/prometheus on ${TEST_DB}`, () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ dataSource, close } = await openTestDataSource());
  });
  afterAll(async () => close?.());

  it('counts completions, failures by reason and retries, observes durations and waits, and reports the seed gauges', async () => {
    const upkeep = new Upkeep({ dataSource, processors: [Ok, Fail], settings: { retry: { initialDelayMs: 3_600_000 } } });
    const registry = new Registry();
    const collector = registerUpkeepMetrics(upkeep, { registry });
    await upkeep.createTasks([{ processor: Ok.create({}) }, { processor: Ok.create({}) }, { processor: Fail.create({}) }]);
    await upkeep.createTask(Ok.create({}), { delayMs: 3_600_000 }); // scheduled later: a queued gauge
    await upkeep.runDue();
    await upkeep.close();

    const text = await registry.metrics();
    expect(text).toContain('upkeep_tasks_completed_total{processor_type="prom-ok"} 2');
    expect(text).toContain('upkeep_tasks_failed_total{processor_type="prom-fail",reason="processor_error",will_retry="true"} 1');
    expect(text).toContain('upkeep_tasks_retried_total{processor_type="prom-fail",by="backoff"} 1');
    expect(text).toMatch(/upkeep_task_run_duration_seconds_count\{processor_type="prom-ok",outcome="completed"\} 2/);
    expect(text).toMatch(/upkeep_task_run_duration_seconds_count\{processor_type="prom-fail",outcome="failed"\} 1/);
    expect(text).toMatch(/upkeep_task_wait_seconds_count\{processor_type="prom-ok"\} 2/);
    expect(text).toContain('upkeep_tasks{status="COMPLETED"} 2');
    // The failed task waits for its retry and the delayed one for its start: both PENDING, scheduled.
    expect(text).toContain('upkeep_queued_tasks{state="scheduled"} 2');
    expect(text).toContain('upkeep_queued_tasks_by_type{processor_type="prom-fail"} 1');
    expect(text).toMatch(/upkeep_average_wait_seconds \d/);
    expect(text).toContain('# TYPE upkeep_tasks_rescued_total counter');

    // An admin retry counts as well.
    const upkeep2 = new Upkeep({ dataSource, processors: [Ok, Fail] });
    const registry2 = new Registry();
    registerUpkeepMetrics(upkeep2, { registry: registry2, prefix: 'app_upkeep' });
    const failed = await upkeep2.createTask(Fail.create({}), { maxAttempts: 1 });
    await upkeep2.runDue();
    await upkeep2.retryTask(failed.id);
    await upkeep2.close();
    const text2 = await registry2.metrics();
    expect(text2).toContain('app_upkeep_tasks_retried_total{processor_type="prom-fail",by="admin"} 1');
    expect(text2).toContain('app_upkeep_tasks_failed_total{processor_type="prom-fail",reason="processor_error",will_retry="false"} 1');

    collector.remove();
    expect(await registry.metrics()).not.toContain('upkeep_');
  });

  it('rejects a missing registry, an unknown option and a bad prefix by name', () => {
    const upkeep = new Upkeep({ dataSource, processors: [Ok] });
    expect(() => registerUpkeepMetrics(upkeep, {} as never)).toThrow(/registry must be a prom-client Registry/);
    expect(() => registerUpkeepMetrics(upkeep, { registry: new Registry(), colour: 1 } as never)).toThrow(/unknown option "colour"/);
    expect(() => registerUpkeepMetrics(upkeep, { registry: new Registry(), prefix: 'bad-prefix' })).toThrow(/bad-prefix/);
  });
});

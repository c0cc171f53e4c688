import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AggregationTemporality, MeterProvider, MetricReader, type HistogramMetricData, type SumMetricData } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { MaintenanceTaskProcessor, Processor, Upkeep, type MaintenanceTask } from '../../../src';
import { currentTraceContext, instrumentUpkeep, parseTraceContext } from '../../../src/integrations/opentelemetry';
import { databaseProblem, openTestDataSource, TEST_DB, type TestDatabase } from '../../helpers/db';

const problem = await databaseProblem();

@Processor('otel-remote')
class Remote extends MaintenanceTaskProcessor {
  process() {
    return { processed: true };
  }
}

@Processor('otel-flaky', { maxAttempts: 3 })
class Flaky extends MaintenanceTaskProcessor {
  process(task: MaintenanceTask) {
    if (task.attempts < 2) throw new Error(`attempt ${task.attempts} fails`);
    return { processed: true };
  }
}

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush() {}
  protected async onShutdown() {}
}

describe.skipIf(problem)(`upkeep/opentelemetry on ${TEST_DB}`, () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let database: TestDatabase;
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const contextManager = new AsyncLocalStorageContextManager().enable();

  beforeAll(async () => {
    context.setGlobalContextManager(contextManager);
    ({ dataSource, close, database } = await openTestDataSource());
  });
  afterAll(async () => {
    context.disable();
    await close?.();
  });

  it('one span per attempt, child of the enqueuing span, with id, type, attempt, device and outcome; metrics through the meter', async () => {
    const upkeep = new Upkeep({ dataSource, processors: [Flaky], settings: { retry: { initialDelayMs: 1, jitter: 0 } } });
    const instrumentation = instrumentUpkeep(upkeep, { tracerProvider, meterProvider });

    const tracer = tracerProvider.getTracer('host');
    const enqueue = tracer.startSpan('POST /upgrade');
    const task = await context.with(trace.setSpan(context.active(), enqueue), async () => {
      const traceparent = currentTraceContext();
      expect(traceparent).toBe(`00-${enqueue.spanContext().traceId}-${enqueue.spanContext().spanId}-01`);
      const created = await upkeep.createTask(Flaky.create({}));
      // createTask stored the enqueuing span's context with the task (column trace_context).
      expect(created.traceContext).toBe(traceparent);
      return created;
    });
    enqueue.end();
    expect(currentTraceContext()).toBeNull();
    expect((await upkeep.getTask(task.id))!.traceContext).toBe(`00-${enqueue.spanContext().traceId}-${enqueue.spanContext().spanId}-01`);
    // Outside any span, nothing is stored.
    const untraced = await upkeep.createTask(Flaky.create({}), { startAt: new Date(Date.now() + 3_600_000) });
    expect((await upkeep.getTask(untraced.id))!.traceContext).toBeNull();
    await upkeep.cancelTask(untraced.id);

    // Two runDue calls: the first attempt fails and is retried by backoff, the second completes.
    await upkeep.runDue();
    await new Promise((r) => setTimeout(r, 5));
    await upkeep.runDue();
    await upkeep.close();

    const spans = exporter.getFinishedSpans().filter((s) => s.name === 'upkeep.task otel-flaky');
    expect(spans).toHaveLength(2);
    for (const span of spans) {
      expect(span.spanContext().traceId).toBe(enqueue.spanContext().traceId);
      expect(span.parentSpanContext?.spanId).toBe(enqueue.spanContext().spanId);
      expect(span.attributes['upkeep.task.id']).toBe(task.id);
      expect(span.attributes['upkeep.task.type']).toBe('otel-flaky');
      expect(span.attributes).toHaveProperty('upkeep.task.device');
    }
    const [first, second] = [...spans].sort((a, b) => Number(a.attributes['upkeep.task.attempt']) - Number(b.attributes['upkeep.task.attempt']));
    expect(first!.attributes).toMatchObject({ 'upkeep.task.attempt': 1, 'upkeep.task.outcome': 'failed', 'upkeep.task.failure_reason': 'processor_error', 'upkeep.task.will_retry': true });
    expect(first!.status).toMatchObject({ code: 2, message: 'attempt 1 fails' });
    expect(first!.events.map((e) => e.name)).toEqual(['exception']);
    expect(second!.attributes).toMatchObject({ 'upkeep.task.attempt': 2, 'upkeep.task.outcome': 'completed' });
    expect(second!.status.code).toBe(1);

    const { resourceMetrics } = await reader.collect();
    const byName = new Map(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m]));
    const sum = (name: string) => (byName.get(name) as SumMetricData | undefined)?.dataPoints.reduce((n, p) => n + p.value, 0);
    expect(sum('upkeep.tasks.completed')).toBe(1);
    expect(sum('upkeep.tasks.failed')).toBe(1);
    expect(sum('upkeep.tasks.retried')).toBe(1);
    const durations = byName.get('upkeep.task.duration') as HistogramMetricData;
    expect(durations.dataPoints.map((p) => [p.attributes['upkeep.task.outcome'], p.value.count]).sort()).toEqual([
      ['completed', 1],
      ['failed', 1],
    ]);
    expect((byName.get('upkeep.task.wait') as HistogramMetricData).dataPoints[0]!.value.count).toBe(2);
    instrumentation.remove();
  });

  it('across processes: the attempt run here is a child of the span that enqueued the task in another process (its trace context stored with the task)', async () => {
    exporter.reset();
    const { entities: _e, migrations: _m, ...plain } = database.options as unknown as Record<string, unknown>;
    const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'enqueue-traced.ts');
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--import', 'tsx', fixture], { env: { ...process.env, UPKEEP_TEST_DS: JSON.stringify(plain) }, timeout: 60_000 }, (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out))),
    );
    const remote = JSON.parse(stdout.trim().split('\n').pop()!) as { taskId: string; traceparent: string; traceId: string; spanId: string; exported: Array<{ name: string; traceId: string; spanId: string }>; pid: number };
    expect(remote.pid).not.toBe(process.pid);
    // The enqueuing span as the other process's in-memory exporter saw it.
    expect(remote.exported).toEqual([{ name: 'POST /reports', traceId: remote.traceId, spanId: remote.spanId }]);
    expect(remote.traceparent).toBe(`00-${remote.traceId}-${remote.spanId}-01`);
    // Nothing is handed over but the database row: the runner here reads trace_context.
    const upkeep = new Upkeep({ dataSource, processors: [Remote] });
    expect((await upkeep.getTask(remote.taskId))!.traceContext).toBe(remote.traceparent);
    const instrumentation = instrumentUpkeep(upkeep, { tracerProvider, metrics: false });
    await upkeep.runDue();
    await upkeep.close();
    instrumentation.remove();
    const [span] = exporter.getFinishedSpans().filter((s) => s.attributes['upkeep.task.id'] === remote.taskId);
    expect(span!.spanContext().traceId).toBe(remote.traceId);
    expect(span!.parentSpanContext).toMatchObject({ spanId: remote.spanId, traceId: remote.traceId, isRemote: true });
    expect(span!.attributes['upkeep.task.outcome']).toBe('completed');
  });

  it('without a stored context an attempt is a root span; a malformed traceparent is ignored, not an error', async () => {
    exporter.reset();
    const upkeep = new Upkeep({ dataSource, processors: [Flaky] });
    const instrumentation = instrumentUpkeep(upkeep, { tracerProvider, metrics: false, getTraceContext: () => 'not-a-traceparent' });
    await upkeep.createTask(Flaky.create({}), { maxAttempts: 1 });
    await upkeep.runDue();
    await upkeep.close();
    instrumentation.remove();
    const [span] = exporter.getFinishedSpans();
    expect(span!.parentSpanContext).toBeUndefined();
    expect(span!.attributes['upkeep.task.outcome']).toBe('failed');
    expect(parseTraceContext('00-00000000000000000000000000000000-0000000000000000-01')).toBeNull();
    expect(() => instrumentUpkeep(upkeep, { tracer: 1 } as never)).toThrow(/unknown option "tracer"/);
  });
});

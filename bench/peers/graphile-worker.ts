// graphile-worker 0.17, set up as its performance page recommends
// (https://worker.graphile.org/docs/performance: `localQueue: { size: 500 }`,
// `completeJobBatchDelay: 0`, `failJobBatchDelay: 0`, a pool one larger than the
// concurrency), at concurrency 10 like the others.
import pg from 'pg';
import { Logger, makeWorkerUtils, run, type WorkerUtils } from 'graphile-worker';
import { PG, type PgProbe } from '../lib/pg';
import type { OnRun, QueueSubject, Worker } from '../lib/subject';

const silent = new Logger(() => () => {});

export class GraphileWorkerSubject implements QueueSubject {
  readonly name = 'graphile-worker';
  readonly config = {
    library: 'graphile-worker 0.17.3',
    concurrency: 10,
    maxPoolSize: 11,
    preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    addJob: 'workerUtils.addJob / workerUtils.addJobs',
  };
  private pool?: pg.Pool;
  private utils?: WorkerUtils;
  private schema = '';
  private enqueued = 0;

  constructor(private readonly database: string, private readonly probe: PgProbe) {}

  async setup(round: number): Promise<void> {
    this.schema = `r${round}_graphile`;
    await this.probe.dropSchema(this.schema);
    this.pool = new pg.Pool({ ...PG, database: this.database, max: 11 });
    // graphile-worker asks for both handlers (https://err.red/wpeh).
    this.pool.on('error', (error) => console.error('graphile-worker pool error:', error));
    this.pool.on('connect', (client) => client.on('error', (error) => console.error('graphile-worker client error:', error)));
    this.enqueued = 0;
    this.utils = await makeWorkerUtils({ pgPool: this.pool, schema: this.schema, logger: silent });
    await this.utils.migrate();
  }

  async addOne(): Promise<void> {
    await this.utils!.addJob('noop', {});
    this.enqueued += 1;
  }

  async addBatches(count: number, batch: number): Promise<void> {
    for (let i = 0; i < count; i += batch) {
      const n = Math.min(batch, count - i);
      await this.utils!.addJobs(Array.from({ length: n }, () => ({ identifier: 'noop', payload: {} })));
      this.enqueued += n;
    }
  }

  async startWorker(onRun: OnRun): Promise<Worker> {
    const runner = await run({
      pgPool: this.pool!,
      schema: this.schema,
      concurrency: 10,
      noHandleSignals: true,
      logger: silent,
      taskList: { noop: async () => void onRun() },
      preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    });
    return { stop: () => runner.stop() };
  }

  async countDone(): Promise<number> {
    // Finished jobs are deleted: done = enqueued - still there.
    return this.enqueued - (await this.probe.count(`SELECT count(*) AS n FROM ${this.schema}._private_jobs`));
  }

  async discardPending(): Promise<number> {
    const n = await this.probe.count(`WITH d AS (DELETE FROM ${this.schema}._private_jobs WHERE locked_at IS NULL RETURNING 1) SELECT count(*) AS n FROM d`);
    this.enqueued -= n;
    return n;
  }

  async teardown(): Promise<void> {
    await this.utils?.release();
    await this.pool?.end();
    await this.probe.dropSchema(this.schema);
  }
}

// pg-boss 10.4 (the newest whose `engines` allow Node 20; 11+ need Node 22). Concurrency
// in pg-boss 10 comes from calling work() several times (teamSize was removed in 10);
// each worker fetches a batch (`batchSize`), hands it to the handler as an array and
// completes it in one statement. A worker waits out the polling interval after every
// fetch, backlog or not (node_modules/pg-boss/src/worker.js), so its throughput is
// workers x batchSize / interval: polling at pg-boss's minimum (0.5 s) and batches of
// 100 give it room for 2,000 tasks/s. 10 workers, each running its batch one job after
// another: 10 tasks at a time, like the others. pg-boss 10 has no LISTEN/NOTIFY wake-up.
import PgBoss from 'pg-boss';
import { PG, type PgProbe } from '../lib/pg';
import type { OnRun, QueueSubject, Worker } from '../lib/subject';

const QUEUE = 'noop';
const WORKERS = 10;
const BATCH = 100;

export class PgBossSubject implements QueueSubject {
  readonly name = 'pg-boss';
  readonly config = {
    library: 'pg-boss 10.4.2',
    constructor: { max: 11, supervise: false, schedule: false },
    work: { workers: WORKERS, batchSize: BATCH, pollingIntervalSeconds: 0.5 },
    send: 'boss.send / boss.insert',
  };
  private boss?: PgBoss;
  private schema = '';

  constructor(private readonly database: string, private readonly probe: PgProbe) {}

  async setup(round: number): Promise<void> {
    this.schema = `r${round}_pgboss`;
    await this.probe.dropSchema(this.schema);
    // supervise/schedule off: no maintenance or cron timers during the measurement.
    this.boss = new PgBoss({ host: PG.host, port: PG.port, user: PG.user, password: PG.password, database: this.database, schema: this.schema, max: 11, supervise: false, schedule: false });
    this.boss.on('error', (error) => console.error('pg-boss error:', error));
    await this.boss.start();
    await this.boss.createQueue(QUEUE);
  }

  async addOne(): Promise<void> {
    await this.boss!.send(QUEUE, {});
  }

  async addBatches(count: number, batch: number): Promise<void> {
    for (let i = 0; i < count; i += batch) {
      const n = Math.min(batch, count - i);
      await this.boss!.insert(Array.from({ length: n }, () => ({ name: QUEUE, data: {} })));
    }
  }

  async startWorker(onRun: OnRun): Promise<Worker> {
    const boss = this.boss!;
    for (let i = 0; i < WORKERS; i++) {
      await boss.work(QUEUE, { batchSize: BATCH, pollingIntervalSeconds: 0.5 }, async (jobs) => {
        for (const _job of jobs) {
          onRun();
          await null;
        }
      });
    }
    return { stop: () => boss.offWork(QUEUE) };
  }

  async countDone(): Promise<number> {
    return this.probe.count(`SELECT count(*) AS n FROM ${this.schema}.job WHERE name = '${QUEUE}' AND state = 'completed'`);
  }

  async discardPending(): Promise<number> {
    return this.probe.count(`WITH d AS (DELETE FROM ${this.schema}.job WHERE name = '${QUEUE}' AND state = 'created' RETURNING 1) SELECT count(*) AS n FROM d`);
  }

  async teardown(): Promise<void> {
    await this.boss?.stop({ graceful: false, wait: true, close: true });
    await this.probe.dropSchema(this.schema);
  }
}

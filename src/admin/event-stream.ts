import { InvalidArgumentError } from '../core/errors';
import { onStoredEvents } from '../store/admin-event-listener';
import { eventsAfter, latestEventId } from '../store/admin-event-queries';
import { progressChangedSince } from '../store/admin-task-queries';
import type { AdminResponse } from './admin-types';
import type { RouteContext } from './route-context';
import { eventView } from './routes-read';
import { dbOf } from './upkeep-access';

const header = (ctx: RouteContext, name: string) => {
  const hit = Object.entries(ctx.request.headers ?? {}).find(([k]) => k.toLowerCase() === name)?.[1];
  return Array.isArray(hit) ? hit[0] : hit;
};

/** Largest event id a client may name: `task_events.id` is a 32-bit serial on PostgreSQL and MySQL. */
export const MAX_EVENT_ID = 2_147_483_647;

/**
 * `GET /events`: Server-Sent Events of every task (or `?taskId=`), read from `task_events`
 * (so runners in other processes publish) by polling rows with an id above the cursor, plus
 * `progress` events synthesised from the progress columns of running tasks (the runner
 * writes them at most about once a second). Each stored event carries its row id as the
 * SSE `id`, so a client reconnecting with `Last-Event-ID` resumes after it. The stream
 * ends when the client disconnects (`request.signal`) or the consumer calls `return()`.
 */
export async function eventStream(ctx: RouteContext): Promise<AdminResponse> {
  const taskId = ctx.query.taskId as string | undefined;
  if (taskId) await ctx.task(taskId);
  const resumeFrom = header(ctx, 'last-event-id') ?? (ctx.query.after !== undefined ? String(ctx.query.after) : undefined);
  if (resumeFrom !== undefined && (!/^\d{1,10}$/.test(resumeFrom) || Number(resumeFrom) > MAX_EVENT_ID)) throw new InvalidArgumentError('Last-Event-ID must be an event id this stream sent');
  const db = dbOf(ctx.upkeep);
  const start = resumeFrom !== undefined ? Number(resumeFrom) : await latestEventId(db);
  const withProgress = ctx.query.progress !== false;
  const ac = new AbortController();
  const outer = ctx.request.signal;
  const abort = () => ac.abort();
  if (outer) outer.aborted ? ac.abort() : outer.addEventListener('abort', abort, { once: true });
  const { ssePollIntervalMs: poll, sseKeepAliveMs: keepAlive } = ctx.options;

  // Between polls the stream sleeps until the interval passes, the client goes away, or (on
  // PostgreSQL) a trigger NOTIFYs a stored event or progress. One timer and one abort listener
  // at a time, both removed when the nap ends; nothing is held before the stream is read.
  let wake: (() => void) | undefined;
  let woken = false;
  const nap = (ms: number) =>
    new Promise<void>((resolve) => {
      if (woken || ac.signal.aborted) return resolve(void (woken = false));
      const done = () => {
        clearTimeout(timer);
        ac.signal.removeEventListener('abort', done);
        wake = undefined;
        woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      ac.signal.addEventListener('abort', done);
      wake = done;
    });

  async function* run(): AsyncGenerator<string> {
    const unsubscribe = onStoredEvents(ctx.upkeep.internals.store.dataSource, () => {
      woken = true;
      wake?.();
    });
    try {
      yield* events();
    } finally {
      unsubscribe();
      outer?.removeEventListener('abort', abort);
    }
  }

  async function* events(): AsyncGenerator<string> {
    let cursor = start;
    let progressSince = new Date(ctx.upkeep.internals.now().getTime() - 1000);
    const lastProgress = new Map<string, string>();
    let lastWrite = Date.now();
    yield `retry: 2000\n: connected, after event ${cursor}\n\n`;
    while (!ac.signal.aborted) {
      const rows = await eventsAfter(db, { afterId: cursor, limit: 500, ...(taskId ? { taskId } : {}) });
      for (const row of rows) {
        cursor = row.id;
        lastWrite = Date.now();
        yield `id: ${row.id}\nevent: ${row.type}\ndata: ${JSON.stringify(eventView(ctx, row))}\n\n`;
      }
      if (withProgress) {
        for (const p of await progressChangedSince(db, progressSince, taskId)) {
          if (p.updatedAt > progressSince) progressSince = p.updatedAt;
          const data = JSON.stringify({ taskId: p.id, type: p.type, done: p.done, total: p.total, at: p.updatedAt.toISOString() });
          if (lastProgress.get(p.id) === `${p.done}/${p.total}`) continue;
          lastProgress.set(p.id, `${p.done}/${p.total}`);
          if (lastProgress.size > 10_000) lastProgress.clear();
          lastWrite = Date.now();
          yield `event: progress\ndata: ${data}\n\n`;
        }
      }
      if (rows.length === 500) continue; // more waiting: read on without sleeping
      if (Date.now() - lastWrite >= keepAlive) {
        lastWrite = Date.now();
        yield `: keep-alive\n\n`;
      }
      await nap(poll);
    }
  }

  const gen = run();
  const stream: AsyncIterable<string> = {
    [Symbol.asyncIterator]: () => ({
      next: () => (ac.signal.aborted ? gen.return(undefined) : gen.next()),
      return: (value?: unknown) => {
        ac.abort();
        return gen.return(value as undefined);
      },
    }),
  };
  return {
    status: 200,
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no', 'x-request-id': ctx.requestId },
    stream,
  };
}

/// <reference lib="dom" />
// One task: actions, live progress with rate and ETA, facts, props (masked by the API),
// result info, error history per attempt, memory samples, dependencies and the timeline.
import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type MetricSample, type TaskDetail, type TaskEventView } from './api';
import { LineChart } from './charts';
import { useLive, usePolling } from './live';
import { Link } from './router';
import { TaskActions } from './task-actions';
import { Timeline } from './timeline';
import { Empty, ErrorNote, Facts, Json, ProgressBar, RelTime, StatusBadge, duration, useLoad } from './ui';

/** Rate (items/s) and ETA (s) from recent progress points, oldest first. */
export function rateOf(points: Array<[number, number]>, total: number | null): { rate: number | null; etaS: number | null } {
  if (points.length < 2) return { rate: null, etaS: null };
  const now = points[points.length - 1]!;
  const since = points.find((p) => now[0] - p[0] <= 30_000) ?? points[0]!;
  const first = since === now ? points[points.length - 2]! : since;
  const dt = (now[0] - first[0]) / 1000;
  if (dt <= 0) return { rate: null, etaS: null };
  const rate = (now[1] - first[1]) / dt;
  if (rate <= 0) return { rate: 0, etaS: null };
  return { rate, etaS: total !== null ? Math.max(0, (total - now[1]) / rate) : null };
}

function Dependencies({ task }: { task: TaskDetail }) {
  const list = (ids: string[] | undefined) =>
    ids && ids.length ? h('ul', { class: 'inline-list' }, ids.map((id) => h('li', { key: id }, h(Link, { href: `tasks/${id}`, class: 'mono' }, id)))) : h('span', { class: 'muted' }, 'none');
  if (task.dependsOn === undefined && task.dependents === undefined) {
    return h('p', { class: 'muted' }, task.dependsOnCount ? `Waits for ${task.dependsOnCount} unfinished task${task.dependsOnCount === 1 ? '' : 's'}.` : 'Waits for no task.');
  }
  return h(Facts, { items: [['Waits for', list(task.dependsOn)], ['Waited for by', list(task.dependents)]] });
}

function ErrorHistory({ task }: { task: TaskDetail }) {
  const rows = task.errorHistory;
  if (!rows.length && !task.lastErrorDetail) return h(Empty, null, 'No errors.');
  return h(
    'div',
    null,
    task.lastErrorDetail
      ? h('p', { class: 'bad' }, h('strong', null, `${task.lastErrorDetail.name}${task.lastErrorDetail.code ? ` (${task.lastErrorDetail.code})` : ''}: `), task.lastErrorDetail.message)
      : null,
    rows.length
      ? h(
          'table',
          { class: 'compact-table' },
          h('thead', null, h('tr', null, h('th', null, 'Attempt'), h('th', null, 'When'), h('th', null, 'Reason'), h('th', null, 'Message'))),
          h('tbody', null, rows.map((r, i) => h('tr', { key: i }, h('td', { class: 'num' }, r.attempt), h('td', null, h(RelTime, { at: r.at })), h('td', null, r.reason), h('td', null, r.message)))),
        )
      : null,
  );
}

export function TaskDetailPage({ id }: { id: string }) {
  const task = useLoad((signal) => api<TaskDetail>(`tasks/${encodeURIComponent(id)}`, { signal }), [id]);
  const events = useLoad((signal) => api<{ items: TaskEventView[] }>(`tasks/${encodeURIComponent(id)}/events`, { query: { limit: 200 }, signal }), [id]);
  const [samples, setSamples] = useState<MetricSample[]>([]);
  const [extraEvents, setExtraEvents] = useState<TaskEventView[]>([]);
  const progress = useRef<Array<[number, number]>>([]);
  const [, setTick] = useState(0);
  const refetch = useRef<number | null>(null);
  const t = task.data;

  useEffect(() => {
    setExtraEvents([]);
    progress.current = [];
  }, [id]);
  useEffect(() => {
    if (t && t.progress.done !== null) {
      const last = progress.current[progress.current.length - 1];
      if (!last || last[1] !== t.progress.done) progress.current.push([Date.now(), t.progress.done]);
      if (progress.current.length === 1 && t.startedAt && t.status === 'WORKING') progress.current.unshift([new Date(t.startedAt).getTime(), 0]);
    }
  }, [t?.progress.done]);

  const loadSamples = () =>
    api<{ items: MetricSample[] }>(`tasks/${encodeURIComponent(id)}/metrics`, { query: { limit: 500 } }).then(
      (r) => setSamples(r.items.slice().reverse()),
      () => undefined,
    );
  // Samples are polled while the task runs and the tab is visible (charts pause when hidden).
  usePolling(() => (t?.status === 'WORKING' || !samples.length ? void loadSamples() : undefined), 3000, [id, t?.status]);

  useLive(
    (e) => {
      if (e.type === 'connected') {
        task.reload();
        events.reload();
        return;
      }
      if (e.data.taskId !== id) return;
      if (e.type === 'progress') {
        if (task.data && task.data.status !== 'WORKING') task.reload(); // it started meanwhile
        const done = e.data.done ?? null;
        if (done !== null && task.data) {
          progress.current.push([Date.now(), done]);
          if (progress.current.length > 120) progress.current.splice(0, progress.current.length - 120);
          task.set({ ...task.data, progress: { done, total: e.data.total ?? task.data.progress.total } });
          setTick((n) => n + 1);
        }
        return;
      }
      if (e.id !== undefined) setExtraEvents((list) => (list.some((x) => x.id === e.id) ? list : [e.data as unknown as TaskEventView, ...list]));
      if (refetch.current === null) {
        refetch.current = window.setTimeout(() => {
          refetch.current = null;
          task.reload();
        }, 200);
      }
    },
    [id, task.data],
  );

  if (task.error && !t) return h('section', { class: 'page' }, h('h1', null, 'Task'), h(ErrorNote, { error: task.error }), h(Link, { href: '' }, '← All tasks'));
  if (!t) return h('section', { class: 'page' }, h('p', { class: 'muted' }, 'Loading…'));

  const { rate, etaS } = rateOf(progress.current, t.progress.total);
  const running = t.status === 'WORKING';
  const seen = new Set(extraEvents.map((e) => e.id));
  const timeline = [...extraEvents, ...(events.data?.items ?? []).filter((e) => !seen.has(e.id))];
  const memory = samples.filter((s) => s.memoryUsageMb !== null).map((s): [number, number] => [new Date(s.timestamp).getTime(), s.memoryUsageMb!]);
  const processing = t.startedAt ? ((t.finishedAt ? new Date(t.finishedAt).getTime() : Date.now()) - new Date(t.startedAt).getTime()) / 1000 : null;

  return h(
    'section',
    { class: 'page', 'aria-labelledby': 'task-title', 'data-task': t.id, 'data-status': t.status },
    h('p', null, h(Link, { href: '' }, '← All tasks')),
    h('div', { class: 'page-head' }, h('h1', { id: 'task-title' }, t.type, ' ', h('span', { class: 'mono muted' }, t.id)), h(StatusBadge, { status: t.status })),
    h(TaskActions, { task: t, onDone: (updated) => (task.set({ ...t, ...updated }), events.reload()) }),
    h('div', { class: 'card' }, h('h2', null, 'Progress'), h(ProgressBar, { done: t.progress.done, total: t.progress.total, rate: running ? rate : null, etaS: running ? etaS : null })),
    h(
      'div',
      { class: 'grid2' },
      h(
        'div',
        { class: 'card' },
        h('h2', null, 'Info'),
        h(Facts, {
          items: [
            ['Status', h(StatusBadge, { status: t.status })],
            ['Requested', t.control ? `${t.control} (at the next safe point)` : null],
            ['Failure reason', t.failureReason],
            ['Priority', String(t.priority)],
            ['Attempts', `${t.attempts} of ${t.maxAttempts}`],
            ['Device', t.device],
            ['Unique key', t.uniqueKey],
            ['Created', h(RelTime, { at: t.createdAt })],
            ['Due', h(RelTime, { at: t.startAt })],
            ['Started', t.startedAt ? h(RelTime, { at: t.startedAt }) : null],
            ['Finished', t.finishedAt ? h(RelTime, { at: t.finishedAt }) : null],
            ['Processing time', processing !== null ? duration(processing) : null],
            ['Runner', t.lockedBy],
            ['Lease expires', t.leaseExpiresAt ? h(RelTime, { at: t.leaseExpiresAt }) : null],
            ['Timeout', t.timeoutMs ? duration(t.timeoutMs / 1000) : null],
            ['Memory (estimated / measured)', t.estimatedMemoryMb !== null || t.actualMemoryMb !== null ? `${t.estimatedMemoryMb ?? '—'} / ${t.actualMemoryMb ?? '—'} MiB` : null],
            ['Service instance', t.serviceInstanceId],
          ],
        }),
      ),
      h(
        'div',
        { class: 'card' },
        h('h2', null, 'Props'),
        h('p', { class: 'muted small' }, 'Sensitive props are masked by the API.'),
        h(Json, { value: t.props }),
        h('h2', null, 'Result'),
        // info is the processor's result on COMPLETED; after a failure it is the error, shown under the errors.
        t.status === 'COMPLETED' && t.info ? h(Json, { value: t.info }) : h(Empty, null, t.status === 'COMPLETED' ? 'The processor returned nothing.' : 'No result yet.'),
        t.runnerInfo && (t.runnerInfo.placement || t.runnerInfo.oom) ? h('h2', null, 'Placement') : null,
        t.runnerInfo && (t.runnerInfo.placement || t.runnerInfo.oom) ? h(Json, { value: { placement: t.runnerInfo.placement, oom: t.runnerInfo.oom } }) : null,
      ),
    ),
    h('div', { class: 'card' }, h('h2', null, 'Errors by attempt'), h(ErrorHistory, { task: t })),
    h('div', { class: 'grid2' }, h('div', { class: 'card' }, h('h2', null, 'Memory'), h(LineChart, { label: 'Memory samples', unit: 'MiB', series: [{ name: 'memory', points: memory }], empty: running ? 'no samples yet' : 'no memory samples recorded' })), h('div', { class: 'card' }, h('h2', null, 'Dependencies'), h(Dependencies, { task: t }))),
    h('div', { class: 'card' }, h('h2', null, 'Timeline'), h(ErrorNote, { error: events.error }), h(Timeline, { events: timeline })),
  );
}

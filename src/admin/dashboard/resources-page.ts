/// <reference lib="dom" />
// Resources: pool utilization and memory per device as live charts (polled while the tab
// is visible), queued and active tasks, average wait, runners alive, cron schedules.
import { h } from 'preact';
import { useRef, useState } from 'preact/hooks';
import { api, type RunnerView, type ScheduleView, type SeedMetrics } from './api';
import { LineChart, Meter, pushSample } from './charts';
import { usePolling, useVisible } from './live';
import { Empty, ErrorNote, Facts, RelTime, duration } from './ui';

const POLL_MS = 2000;

function Counts({ m }: { m: SeedMetrics }) {
  const byDevice = Object.entries(m.active_tasks.by_device ?? {});
  const byType = Object.entries(m.queued_tasks.by_type ?? {});
  return h(
    'div',
    { class: 'stats' },
    h('div', { class: 'stat', 'data-stat': 'active' }, h('span', { class: 'stat-value' }, m.active_tasks.total.toLocaleString()), h('span', { class: 'stat-label' }, 'active tasks')),
    h('div', { class: 'stat', 'data-stat': 'queued' }, h('span', { class: 'stat-value' }, m.queued_tasks.total.toLocaleString()), h('span', { class: 'stat-label' }, `queued${m.queued_tasks.due !== undefined ? ` (${m.queued_tasks.due.toLocaleString()} due now)` : ''}`)),
    h('div', { class: 'stat', 'data-stat': 'wait' }, h('span', { class: 'stat-value' }, duration(m.average_wait_time)), h('span', { class: 'stat-label' }, 'average wait (last hour)')),
    h(
      'div',
      { class: 'stat wide' },
      h(Facts, {
        items: [
          ['Active by device', byDevice.length ? byDevice.map(([d, n]) => `${d}: ${n}`).join(', ') : 'none'],
          ['Queued by type', byType.length ? byType.map(([t, n]) => `${t}: ${n}`).join(', ') : 'none'],
          ['Scheduled later', m.queued_tasks.scheduled !== undefined ? m.queued_tasks.scheduled.toLocaleString() : null],
        ],
      }),
    ),
  );
}

export function ResourcesPage() {
  const [metrics, setMetrics] = useState<SeedMetrics | null>(null);
  const [runners, setRunners] = useState<{ items: RunnerView[]; registry?: boolean } | null>(null);
  const [schedules, setSchedules] = useState<ScheduleView[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const history = useRef({ pools: {} as Record<string, Array<[number, number]>>, used: {} as Record<string, Array<[number, number]>>, free: {} as Record<string, Array<[number, number]>> });
  const visible = useVisible();

  usePolling(() => {
    api<SeedMetrics>('tasks/metrics').then(
      (m) => {
        const t = m.generated_at ? new Date(m.generated_at).getTime() : Date.now();
        for (const [pool, u] of Object.entries(m.pool_utilization)) pushSample(history.current.pools, pool, t, u.utilization);
        for (const [device, d] of Object.entries(m.memory_by_device)) {
          pushSample(history.current.used, device, t, d.estimated_mb + d.pool_reserved_mb);
          if (d.free_mb !== null) pushSample(history.current.free, device, t, d.free_mb);
        }
        setMetrics(m);
        setError(null);
      },
      setError,
    );
    api<{ items: RunnerView[]; registry?: boolean }>('runners').then(setRunners, setError);
    api<{ items: ScheduleView[] }>('schedules').then((r) => setSchedules(r.items), setError);
  }, POLL_MS);

  const pools = Object.entries(metrics?.pool_utilization ?? {});
  const devices = Object.entries(metrics?.memory_by_device ?? {});
  return h(
    'section',
    { class: 'page', 'aria-labelledby': 'resources-title' },
    h('div', { class: 'page-head' }, h('h1', { id: 'resources-title' }, 'Resources'), h('span', { class: 'muted', 'data-paused': visible ? 'false' : 'true' }, visible ? `live, every ${POLL_MS / 1000} s` : 'paused while the tab is hidden')),
    h(ErrorNote, { error }),
    metrics ? h(Counts, { m: metrics }) : h('p', { class: 'muted' }, 'Loading…'),
    h(
      'div',
      { class: 'grid2' },
      h(
        'div',
        { class: 'card' },
        h('h2', null, 'Pool utilization'),
        pools.length
          ? [
              h(LineChart, { key: 'c', label: 'Utilization', max: 1, percent: true, series: pools.map(([name]) => ({ name, points: history.current.pools[name] ?? [] })) }),
              ...pools.map(([name, u]) =>
                h('div', { key: name, class: 'pool' }, h(Meter, { label: name, value: u.utilization }), h('p', { class: 'muted small' }, `${u.size} instance${u.size === 1 ? '' : 's'}, ${u.waiting} waiting${Object.keys(u.by_device).length ? ` · ${Object.entries(u.by_device).map(([d, v]) => `${d} ${Math.round(v * 100)}%`).join(', ')}` : ''}`)),
              ),
            ]
          : h(Empty, null, 'No service pools are registered in this process.'),
      ),
      h(
        'div',
        { class: 'card' },
        h('h2', null, 'Memory by device'),
        devices.length
          ? [
              h(LineChart, { key: 'u', label: 'In use (tasks + pools)', unit: 'MiB', series: devices.map(([d]) => ({ name: d, points: history.current.used[d] ?? [] })) }),
              devices.some(([, d]) => d.free_mb !== null) ? h(LineChart, { key: 'f', label: 'Free', unit: 'MiB', series: devices.filter(([, d]) => d.free_mb !== null).map(([d]) => ({ name: d, points: history.current.free[d] ?? [] })) }) : null,
              h(
                'table',
                { key: 't', class: 'compact-table' },
                h('thead', null, h('tr', null, h('th', null, 'Device'), h('th', null, 'Tasks (est.)'), h('th', null, 'Pools'), h('th', null, 'Free'), h('th', null, 'Total'))),
                h('tbody', null, devices.map(([name, d]) => h('tr', { key: name }, h('td', null, name), h('td', { class: 'num' }, `${d.estimated_mb} MiB`), h('td', { class: 'num' }, `${d.pool_reserved_mb} MiB`), h('td', { class: 'num' }, d.free_mb !== null ? `${d.free_mb} MiB` : '—'), h('td', { class: 'num' }, d.total_mb !== null ? `${d.total_mb} MiB` : '—')))),
              ),
            ]
          : h(Empty, null, 'No device reports memory.'),
      ),
    ),
    h(
      'div',
      { class: 'card' },
      h('h2', null, 'Runners alive'),
      runners && runners.registry === false ? h('p', { class: 'muted' }, 'This build has no runner registry.') : null,
      runners && runners.items.length
        ? h(
            'table',
            { class: 'compact-table', 'data-runners': runners.items.length },
            h('thead', null, h('tr', null, h('th', null, 'Runner'), h('th', null, 'Host'), h('th', null, 'PID'), h('th', null, 'Concurrency'), h('th', null, 'In flight'), h('th', null, 'Last heartbeat'))),
            h(
              'tbody',
              null,
              runners.items.map((r) =>
                h('tr', { key: r.id }, h('td', { class: 'mono' }, r.id), h('td', null, r.host ?? '—'), h('td', { class: 'num' }, r.pid ?? '—'), h('td', { class: 'num' }, r.concurrency ?? '—'), h('td', { class: 'num' }, r.inFlight ?? '—'), h('td', null, h(RelTime, { at: r.lastHeartbeatAt }))),
              ),
            ),
          )
        : runners
          ? h(Empty, null, 'No runner is alive.')
          : null,
    ),
    h(
      'div',
      { class: 'card' },
      h('h2', null, 'Cron schedules'),
      schedules && schedules.length
        ? h(
            'table',
            { class: 'compact-table' },
            h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Cron'), h('th', null, 'Time zone'), h('th', null, 'Catch-up'), h('th', null, 'Next occurrence'))),
            h(
              'tbody',
              null,
              schedules.map((s) =>
                h('tr', { key: s.name }, h('td', null, s.name), h('td', { class: 'mono' }, s.cron), h('td', null, s.timezone ?? 'local'), h('td', null, s.catchUp), h('td', null, s.nextOccurrence ? [h(RelTime, { key: 'r', at: s.nextOccurrence }), h('span', { key: 'a', class: 'muted small' }, ` (${new Date(s.nextOccurrence).toLocaleString()})`)] : '—')),
              ),
            ),
          )
        : schedules
          ? h(Empty, null, 'No cron schedules in this process.')
          : null,
    ),
  );
}

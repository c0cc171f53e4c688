/// <reference lib="dom" />
// Tasks: status counts as tabs, filters kept in the URL, cursor pagination, live rows,
// selection for bulk actions.
import { h, type ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, STATUSES, type ProcessorView, type SeedMetrics, type TaskPage, type TaskSummary } from './api';
import { useLive, usePolling } from './live';
import { usePermissions } from './permissions';
import { Link, setQuery, type Route } from './router';
import { BulkBar } from './task-actions';
import { Empty, ErrorNote, ProgressBar, RelTime, StatusBadge, shortId, useLoad } from './ui';

const PAGE_SIZE = 50;
/** A search for hex digits and dashes is an id (prefix); anything else, or `key:...`, a unique key. */
const ID_LIKE = /^[0-9a-f-]{1,36}$/i;

/** The list filter from the URL, in the API's query names. */
export function filterFromQuery(q: URLSearchParams): Record<string, string> {
  const f: Record<string, string> = {};
  for (const key of ['status', 'type', 'device', 'from', 'to'] as const) {
    const v = q.get(key);
    if (v) f[key] = v;
  }
  const search = q.get('q')?.trim();
  if (search) {
    if (search.startsWith('key:')) f.uniqueKey = search.slice(4);
    else if (ID_LIKE.test(search)) f.search = search;
    else f.uniqueKey = search;
  }
  return f;
}

/** The same filter as a bulk request's `filter` body (lists as arrays). */
function bulkFilter(f: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...f };
  if (f.status) out.status = f.status.split(',');
  if (f.type) out.type = f.type.split(',');
  return out;
}

const toLocalInput = (iso: string | null) => {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const off = d.getTimezoneOffset() * 60_000;
  return new Date(d.getTime() - off).toISOString().slice(0, 16);
};
const fromLocalInput = (v: string) => (v ? new Date(v).toISOString() : null);

function StatusTabs({ counts, active }: { counts: SeedMetrics['status_counts'] | undefined; active: string | null }) {
  const total = counts ? Object.values(counts).reduce((a, b) => a + (b ?? 0), 0) : undefined;
  const tab = (status: string | null, label: string, n: number | undefined) =>
    h(
      'button',
      {
        key: label,
        type: 'button',
        role: 'tab',
        class: 'tab',
        'aria-selected': active === status ? 'true' : 'false',
        'data-tab': status ?? 'ALL',
        onClick: () => setQuery({ status, cursor: null }),
      },
      label,
      h('span', { class: 'count', 'data-count': n ?? '' }, n === undefined ? '…' : n.toLocaleString()),
    );
  return h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Tasks by status' }, tab(null, 'All', total), STATUSES.map((s) => tab(s, s, counts?.[s] ?? 0)));
}

function Filters({ route, types }: { route: Route; types: string[] }) {
  const q = route.query;
  const [search, setSearch] = useState(q.get('q') ?? '');
  useEffect(() => setSearch(q.get('q') ?? ''), [q.get('q')]);
  const field = (id: string, label: string, input: ComponentChildren) => h('div', { class: 'field' }, h('label', { for: id }, label), input);
  return h(
    'form',
    {
      class: 'filters',
      role: 'search',
      onSubmit: (e: Event) => {
        e.preventDefault();
        setQuery({ q: search.trim() || null, cursor: null });
      },
    },
    field(
      'f-q',
      'Id or unique key',
      h('input', { id: 'f-q', name: 'q', type: 'search', placeholder: 'a1b2c3… or key:nightly-2026', value: search, onInput: (e: Event) => setSearch((e.target as HTMLInputElement).value) }),
    ),
    field(
      'f-type',
      'Type',
      h('input', {
        id: 'f-type',
        name: 'type',
        list: 'f-types',
        placeholder: 'any type',
        value: q.get('type') ?? '',
        onChange: (e: Event) => setQuery({ type: (e.target as HTMLInputElement).value.trim() || null, cursor: null }),
      }),
    ),
    h('datalist', { id: 'f-types' }, types.map((t) => h('option', { key: t, value: t }))),
    field(
      'f-device',
      'Device',
      h('input', {
        id: 'f-device',
        name: 'device',
        placeholder: 'cpu, cuda:0',
        value: q.get('device') ?? '',
        onChange: (e: Event) => setQuery({ device: (e.target as HTMLInputElement).value.trim() || null, cursor: null }),
      }),
    ),
    field(
      'f-from',
      'Created from',
      h('input', { id: 'f-from', name: 'from', type: 'datetime-local', value: toLocalInput(q.get('from')), onChange: (e: Event) => setQuery({ from: fromLocalInput((e.target as HTMLInputElement).value), cursor: null }) }),
    ),
    field(
      'f-to',
      'Created before',
      h('input', { id: 'f-to', name: 'to', type: 'datetime-local', value: toLocalInput(q.get('to')), onChange: (e: Event) => setQuery({ to: fromLocalInput((e.target as HTMLInputElement).value), cursor: null }) }),
    ),
    h(
      'div',
      { class: 'field buttons' },
      h('button', { type: 'submit', class: 'primary' }, 'Search'),
      h('button', { type: 'button', onClick: () => setQuery({ q: null, type: null, device: null, from: null, to: null, status: null, cursor: null }) }, 'Clear filters'),
    ),
  );
}

function TaskRow({ task, selectable, selected, onSelect }: { task: TaskSummary; selectable: boolean; selected: boolean; onSelect: (on: boolean) => void }) {
  return h(
    'tr',
    { 'data-task': task.id, 'data-status': task.status },
    selectable
      ? h('td', null, h('input', { type: 'checkbox', checked: selected, 'aria-label': `Select task ${task.id}`, onChange: (e: Event) => onSelect((e.target as HTMLInputElement).checked) }))
      : null,
    h('td', { class: 'mono' }, h(Link, { href: `tasks/${task.id}`, title: task.id }, shortId(task.id))),
    h('td', null, task.type),
    h('td', null, h(StatusBadge, { status: task.status }), task.control ? h('span', { class: 'muted' }, ` (${task.control} requested)`) : null),
    h('td', null, h(ProgressBar, { done: task.progress.done, total: task.progress.total, compact: true })),
    h('td', { class: 'num' }, `${task.attempts}/${task.maxAttempts}`),
    h('td', null, task.device ?? h('span', { class: 'muted' }, '—')),
    h('td', null, h(RelTime, { at: task.createdAt })),
    h('td', null, h(RelTime, { at: task.updatedAt })),
    h('td', { class: 'error-cell', title: task.lastError ?? '' }, task.uniqueKey ? h('span', { class: 'muted' }, `key ${task.uniqueKey} `) : null, task.lastError ?? ''),
  );
}

export function TasksPage({ route }: { route: Route }) {
  const perms = usePermissions();
  const filter = filterFromQuery(route.query);
  const cursor = route.query.get('cursor');
  const key = JSON.stringify([filter, cursor]);
  const page = useLoad((signal) => api<TaskPage>('tasks', { query: { ...filter, limit: PAGE_SIZE, cursor }, signal }), [key]);
  const [rows, setRows] = useState<TaskSummary[]>([]);
  const [counts, setCounts] = useState<SeedMetrics['status_counts']>();
  const [types, setTypes] = useState<string[]>([]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [cursors, setCursors] = useState<string[]>([]);
  const pendingRows = useRef(new Set<string>());
  const refreshTimer = useRef<number | null>(null);

  useEffect(() => setRows(page.data?.items ?? []), [page.data]);
  useEffect(() => setSelected(new Set()), [key]);
  useEffect(() => setCursors((c) => (cursor ? c : [])), [JSON.stringify(filter), cursor]);
  useEffect(() => {
    api<{ items: ProcessorView[] }>('processors').then((r) => setTypes(r.items.map((p) => p.type)), () => undefined);
  }, []);
  const lastCounts = useRef(0);
  const countsTimer = useRef<number | null>(null);
  // Counts are exact (the metrics route counts by status), which costs the server a scan of
  // the table: asked after the first page arrived (so the rows come first), at most every 5 s.
  const loadCounts = () => {
    const wait = lastCounts.current + 5000 - Date.now();
    if (wait > 0) {
      countsTimer.current ??= window.setTimeout(() => ((countsTimer.current = null), loadCounts()), wait);
      return;
    }
    lastCounts.current = Date.now();
    void api<SeedMetrics>('tasks/metrics').then((m) => setCounts(m.status_counts), () => undefined);
  };
  useEffect(() => () => void (countsTimer.current !== null && clearTimeout(countsTimer.current)), []);
  const hasPage = page.data !== undefined;
  usePolling(() => hasPage && loadCounts(), 15_000, [hasPage]);

  // Live rows: progress updates in place; a status change refetches that row; new tasks
  // refresh the first page and the counts (at most once a second).
  const scheduleRefresh = () => {
    if (refreshTimer.current !== null) return;
    refreshTimer.current = window.setTimeout(() => {
      refreshTimer.current = null;
      loadCounts();
      if (!cursor) page.reload();
    }, 1000);
  };
  const refetchRow = (id: string) => {
    if (pendingRows.current.has(id)) return;
    pendingRows.current.add(id);
    setTimeout(() => {
      pendingRows.current.delete(id);
      api<TaskSummary>(`tasks/${encodeURIComponent(id)}`).then((t) => setRows((rs) => rs.map((r) => (r.id === t.id ? { ...r, ...t } : r))), () => undefined);
    }, 150);
  };
  useLive(
    (e) => {
      const id = e.data.taskId ?? undefined;
      if (e.type === 'connected') return scheduleRefresh();
      if (e.type === 'progress') {
        if (id) setRows((rs) => rs.map((r) => (r.id === id ? { ...r, progress: { done: e.data.done ?? null, total: e.data.total ?? null } } : r)));
        if (id && rows.some((r) => r.id === id && r.status !== 'WORKING')) refetchRow(id);
        return;
      }
      if (e.type === 'created') return scheduleRefresh();
      if (id && rows.some((r) => r.id === id)) refetchRow(id);
      if (['started', 'completed', 'failed', 'cancelled', 'paused', 'resumed', 'retried', 'reset', 'retry_scheduled', 'lease_expired', 'released'].includes(e.type)) loadCounts();
    },
    [rows, cursor, key],
  );

  const selectable = perms.bulk;
  const data = page.data;
  const totalText = data?.total === null || data?.total === undefined ? '' : data.totalCapped ? `${data.total.toLocaleString()}+ tasks match` : `${data.total.toLocaleString()} task${data.total === 1 ? '' : 's'} match`;
  const allSelected = rows.length > 0 && rows.every((r) => selected.has(r.id));
  return h(
    'section',
    { class: 'page', 'aria-labelledby': 'tasks-title' },
    h('div', { class: 'page-head' }, h('h1', { id: 'tasks-title' }, 'Tasks'), h('span', { class: 'muted', 'data-total': data?.total ?? '' }, totalText)),
    h(StatusTabs, { counts, active: route.query.get('status') }),
    h(Filters, { route, types }),
    h(BulkBar, { selected: [...selected], filter: bulkFilter(filter), total: data?.total ?? null, onDone: () => (page.reload(), loadCounts(), setSelected(new Set())) }),
    h(ErrorNote, { error: page.error }),
    h(
      'div',
      { class: 'table-wrap', 'aria-busy': page.loading ? 'true' : 'false' },
      h(
        'table',
        { class: 'tasks', 'data-loaded': data ? 'true' : 'false' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            selectable
              ? h('th', { scope: 'col' }, h('input', { type: 'checkbox', 'aria-label': 'Select all on this page', checked: allSelected, onChange: (e: Event) => setSelected((e.target as HTMLInputElement).checked ? new Set(rows.map((r) => r.id)) : new Set()) }))
              : null,
            ['Id', 'Type', 'Status', 'Progress', 'Attempts', 'Device', 'Created', 'Updated', 'Key · last error'].map((c) => h('th', { key: c, scope: 'col' }, c)),
          ),
        ),
        h(
          'tbody',
          null,
          rows.map((t) =>
            h(TaskRow, {
              key: t.id,
              task: t,
              selectable,
              selected: selected.has(t.id),
              onSelect: (on) =>
                setSelected((s) => {
                  const next = new Set(s);
                  if (on) next.add(t.id);
                  else next.delete(t.id);
                  return next;
                }),
            }),
          ),
        ),
      ),
      data && !rows.length ? h(Empty, null, 'No task matches these filters.') : null,
    ),
    h(
      'nav',
      { class: 'pager', 'aria-label': 'Pages' },
      h('button', { type: 'button', disabled: !cursor, onClick: () => (setCursors([]), setQuery({ cursor: null })) }, 'First page'),
      h(
        'button',
        {
          type: 'button',
          disabled: !cursor,
          onClick: () => {
            const prev = cursors.slice(0, -1);
            setCursors(prev);
            setQuery({ cursor: cursors.length ? (prev[prev.length - 1] ?? null) : null });
          },
        },
        'Previous',
      ),
      h(
        'button',
        {
          type: 'button',
          'data-next': '',
          disabled: !data?.nextCursor,
          onClick: () => {
            setCursors((c) => [...c, data!.nextCursor!]);
            setQuery({ cursor: data!.nextCursor });
          },
        },
        'Next',
      ),
    ),
  );
}

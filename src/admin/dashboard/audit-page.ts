/// <reference lib="dom" />
// Audit: every admin action, newest first, live, with older pages on demand.
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, type TaskEventView } from './api';
import { useLive } from './live';
import { setQuery, type Route } from './router';
import { AuditLine } from './timeline';
import { Empty, ErrorNote, RelTime } from './ui';

interface AuditPage {
  items: TaskEventView[];
  nextBefore: number | null;
}

export function AuditPage({ route }: { route: Route }) {
  const taskId = route.query.get('taskId') ?? undefined;
  const [items, setItems] = useState<TaskEventView[]>([]);
  const [nextBefore, setNextBefore] = useState<number | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [filter, setFilter] = useState(taskId ?? '');

  const load = (before?: number) =>
    api<AuditPage>('audit', { query: { limit: 100, before, taskId } }).then(
      (page) => {
        setItems((old) => (before ? [...old, ...page.items] : page.items));
        setNextBefore(page.nextBefore);
        setLoaded(true);
        setError(null);
      },
      setError,
    );
  useEffect(() => {
    setItems([]);
    setLoaded(false);
    void load();
  }, [taskId]);
  useLive(
    (e) => {
      if (e.type === 'connected' && loaded) return void load();
      if (e.type !== 'audit' || e.id === undefined) return;
      if (taskId && e.data.taskId !== taskId) return;
      const entry = e.data as unknown as TaskEventView;
      setItems((old) => (old.some((x) => x.id === entry.id) ? old : [entry, ...old]));
    },
    [taskId, loaded],
  );

  return h(
    'section',
    { class: 'page', 'aria-labelledby': 'audit-title' },
    h('div', { class: 'page-head' }, h('h1', { id: 'audit-title' }, 'Audit'), h('span', { class: 'muted' }, 'Every admin action: who, what, the status before and after.')),
    h(
      'form',
      { class: 'filters', role: 'search', onSubmit: (e: Event) => (e.preventDefault(), setQuery({ taskId: filter.trim() || null })) },
      h('div', { class: 'field' }, h('label', { for: 'audit-task' }, 'Task id'), h('input', { id: 'audit-task', value: filter, placeholder: 'all tasks', onInput: (e: Event) => setFilter((e.target as HTMLInputElement).value) })),
      h('div', { class: 'field buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Filter'), taskId ? h('button', { type: 'button', onClick: () => (setFilter(''), setQuery({ taskId: null })) }, 'All tasks') : null),
    ),
    h(ErrorNote, { error }),
    h(
      'table',
      { class: 'audit-table', 'data-loaded': loaded ? 'true' : 'false' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'When'), h('th', { scope: 'col' }, 'Entry'))),
      h(
        'tbody',
        null,
        items.map((e) =>
          h('tr', { key: e.id, 'data-audit': (e.details as { action?: string } | null)?.action ?? '', 'data-task': e.taskId ?? '' }, h('td', null, h(RelTime, { at: e.timestamp })), h('td', null, h(AuditLine, { event: e, withTask: true }))),
        ),
      ),
    ),
    loaded && !items.length ? h(Empty, null, 'No admin action recorded yet.') : null,
    nextBefore ? h('nav', { class: 'pager' }, h('button', { type: 'button', onClick: () => load(nextBefore) }, 'Older entries')) : null,
  );
}

/// <reference lib="dom" />
// Admin actions on one task and in bulk, shown only where the principal's role allows them.
import { h } from 'preact';
import { useState } from 'preact/hooks';
import { ACTIONS, api, ApiError, type BulkResult, type TaskAction, type TaskDetail, type TaskStatus, type TaskSummary } from './api';
import { usePermissions } from './permissions';
import { Link } from './router';
import { ErrorNote, StatusBadge, shortId, useConfirm } from './ui';

/** The statuses each action applies to (the server's transition table decides; this only hides buttons that cannot work). */
export const APPLIES_TO: Record<TaskAction, readonly TaskStatus[]> = {
  start: ['INACTIVE', 'PAUSED'],
  cancel: ['INACTIVE', 'PENDING', 'WORKING', 'PAUSED'],
  pause: ['PENDING', 'WORKING'],
  resume: ['PAUSED'],
  retry: ['ERROR', 'CANCELLED'],
  reset: ['WORKING'],
};

export const LABEL: Record<TaskAction, string> = { start: 'Start now', cancel: 'Cancel', pause: 'Pause', resume: 'Resume', retry: 'Retry', reset: 'Reset' };

/** Actions that lose work or cannot be undone: asked for confirmation first. */
export const DESTRUCTIVE: ReadonlySet<TaskAction> = new Set(['cancel', 'reset']);

const EXPLAIN: Record<TaskAction, string> = {
  start: 'The task becomes due now.',
  cancel: 'The task is cancelled; a running task stops at its next safe point. Its dependents are cancelled too.',
  pause: 'The task is held; a running task stops at its next safe point and keeps its cursor.',
  resume: 'The task is due again and continues from its cursor.',
  retry: 'The task is queued again with fresh attempts.',
  reset: 'The task is taken back from its runner and queued again. Do this only when its runner is gone.',
};

/** Buttons for the actions the principal may run on this task in its current status. */
export function TaskActions({ task, onDone }: { task: TaskSummary; onDone: (task: TaskDetail, pending: string | null) => void }) {
  const perms = usePermissions();
  const [busy, setBusy] = useState<TaskAction | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState<string | null>(null);
  const [dialog, ask] = useConfirm();
  const available = ACTIONS.filter((a) => perms.actions.has(a) && APPLIES_TO[a].includes(task.status));
  if (!perms.actions.size) return null;

  const run = async (action: TaskAction) => {
    setError(null);
    setNote(null);
    if (DESTRUCTIVE.has(action) && !(await ask(`${LABEL[action]} task ${shortId(task.id)}?`, EXPLAIN[action], { confirmLabel: LABEL[action] }))) return;
    setBusy(action);
    try {
      const res = await api<{ task: TaskDetail; pending: string | null }>(`tasks/${encodeURIComponent(task.id)}/${action}`, { method: 'POST', body: {} });
      if (res.pending) setNote(`${LABEL[action]} requested: the runner stops the task at its next safe point.`);
      onDone(res.task, res.pending);
    } catch (e) {
      // A reset of a task whose lease is live needs force: offer it once, with its own confirmation.
      if (action === 'reset' && e instanceof ApiError && e.status === 409 && /force/.test(e.message)) {
        if (await ask('Force the reset?', `${e.message}. Forcing it may run the task twice if its runner is still alive.`, { confirmLabel: 'Force reset' })) {
          try {
            const res = await api<{ task: TaskDetail; pending: string | null }>(`tasks/${encodeURIComponent(task.id)}/reset`, { method: 'POST', body: { force: true } });
            onDone(res.task, res.pending);
          } catch (e2) {
            setError(e2);
          }
        }
      } else setError(e);
    } finally {
      setBusy(null);
    }
  };

  return h(
    'div',
    { class: 'actions', role: 'group', 'aria-label': 'Task actions' },
    available.length === 0 ? h('span', { class: 'muted' }, `No action applies to a ${task.status} task.`) : null,
    available.map((a) =>
      h('button', { key: a, type: 'button', class: DESTRUCTIVE.has(a) ? 'danger' : '', 'data-action': a, disabled: busy !== null, onClick: () => run(a) }, busy === a ? `${LABEL[a]}…` : LABEL[a]),
    ),
    note ? h('span', { class: 'muted', role: 'status' }, note) : null,
    h(ErrorNote, { error, onDismiss: () => setError(null) }),
    dialog,
  );
}

/** Bulk actions on the selected rows or on every task matching the current filter. */
export function BulkBar({ selected, filter, total, onDone }: { selected: string[]; filter: Record<string, unknown>; total: number | null; onDone: () => void }) {
  const perms = usePermissions();
  const [action, setAction] = useState<TaskAction>('retry');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState<BulkResult | null>(null);
  const [dialog, ask] = useConfirm();
  const allowed = ACTIONS.filter((a) => perms.actions.has(a));
  if (!perms.bulk || !allowed.length) return null;
  const chosen = allowed.includes(action) ? action : allowed[0]!;

  const run = async (target: 'selection' | 'filter') => {
    setError(null);
    const what = target === 'selection' ? `${selected.length} selected task${selected.length === 1 ? '' : 's'}` : `every task matching the current filter${total !== null ? ` (${total.toLocaleString()}${total >= 10_000 ? '+' : ''}; at most 1,000 per request)` : ''}`;
    if (!(await ask(`${LABEL[chosen]} ${what}?`, `${EXPLAIN[chosen]} Each task reports its own result.`, { confirmLabel: `${LABEL[chosen]} ${target === 'selection' ? selected.length : 'all matching'}`, danger: DESTRUCTIVE.has(chosen) }))) return;
    setBusy(true);
    try {
      const body = target === 'selection' ? { ids: selected } : { filter };
      setResult(await api<BulkResult>(`tasks/bulk/${chosen}`, { method: 'POST', body }));
      onDone();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return h(
    'section',
    { class: 'bulk', 'aria-label': 'Bulk actions' },
    h(
      'div',
      { class: 'row' },
      h('label', { for: 'bulk-action' }, 'Bulk action'),
      h(
        'select',
        { id: 'bulk-action', value: chosen, onChange: (e: Event) => setAction((e.target as HTMLSelectElement).value as TaskAction) },
        allowed.map((a) => h('option', { key: a, value: a }, LABEL[a])),
      ),
      h('button', { type: 'button', 'data-bulk': 'selection', disabled: busy || selected.length === 0, onClick: () => run('selection') }, `On ${selected.length} selected`),
      h('button', { type: 'button', 'data-bulk': 'filter', disabled: busy || total === 0, onClick: () => run('filter') }, 'On all matching the filter'),
    ),
    h(ErrorNote, { error, onDismiss: () => setError(null) }),
    result ? h(BulkReport, { result, onClose: () => setResult(null) }) : null,
    dialog,
  );
}

function BulkReport({ result, onClose }: { result: BulkResult; onClose: () => void }) {
  return h(
    'div',
    { class: 'bulk-report', role: 'status', 'aria-live': 'polite' },
    h(
      'p',
      null,
      h('strong', null, `${LABEL[result.action as TaskAction] ?? result.action}: ${result.succeeded} succeeded, ${result.failed} failed`),
      result.truncated ? ' (stopped at the bulk limit: run it again for the rest)' : '',
      ' ',
      h('button', { type: 'button', class: 'link', onClick: onClose }, 'Close report'),
    ),
    h(
      'table',
      { class: 'compact-table' },
      h('thead', null, h('tr', null, h('th', null, 'Task'), h('th', null, 'Result'), h('th', null, 'Status now'), h('th', null, 'Message'))),
      h(
        'tbody',
        null,
        result.results.map((r) =>
          h(
            'tr',
            { key: r.id, 'data-result': r.ok ? 'ok' : 'failed', 'data-task': r.id },
            h('td', null, h(Link, { href: `tasks/${r.id}`, title: r.id }, shortId(r.id))),
            h('td', null, r.ok ? h('span', { class: 'ok' }, 'done') : h('span', { class: 'bad' }, r.error?.code ?? 'failed')),
            h('td', null, r.status ? h(StatusBadge, { status: r.status }) : '—'),
            h('td', null, r.error?.message ?? ''),
          ),
        ),
      ),
    ),
  );
}

/// <reference lib="dom" />
// A task's events as a timeline, audit entries spelt out: who did what, before and after.
import { h } from 'preact';
import type { TaskEventView } from './api';
import { Link } from './router';
import { Empty, RelTime, StatusBadge, shortId } from './ui';

interface AuditDetails {
  actor?: { id?: string | null; roles?: string[]; admin?: boolean };
  action?: string;
  statusBefore?: string | null;
  statusAfter?: string | null;
  requestId?: string | null;
  outcome?: string;
  source?: string;
  [key: string]: unknown;
}

/** Who acted, as a person reads it: `ops-1 (operator)`. */
export function actorText(actor: AuditDetails['actor']): string {
  if (!actor) return 'someone';
  const roles = actor.admin ? ['admin'] : (actor.roles ?? []);
  return `${actor.id ?? 'anonymous'}${roles.length ? ` (${roles.join(', ')})` : ''}`;
}

/** The before → after part of an audit entry. */
export function Transition({ before, after }: { before?: string | null | undefined; after?: string | null | undefined }) {
  if (!before && !after) return null;
  return h('span', { class: 'transition' }, before ? h(StatusBadge, { status: before }) : h('span', { class: 'muted' }, 'new'), ' → ', after ? h(StatusBadge, { status: after }) : h('span', { class: 'muted' }, '—'));
}

const SKIP = new Set(['actor', 'action', 'statusBefore', 'statusAfter', 'requestId', 'outcome', 'source', 'processorType']);

function summary(details: Record<string, unknown> | null): string {
  if (!details) return '';
  const parts = Object.entries(details)
    .filter(([k, v]) => !SKIP.has(k) && v !== null && v !== undefined && typeof v !== 'object')
    .slice(0, 6)
    .map(([k, v]) => `${k}: ${String(v).slice(0, 120)}`);
  return parts.join(' · ');
}

/** One audit entry as a sentence; `withTask` adds a link to the task (the global list). */
export function AuditLine({ event, withTask }: { event: TaskEventView; withTask?: boolean }) {
  const d = (event.details ?? {}) as AuditDetails;
  return h(
    'span',
    { class: 'audit-line' },
    h('strong', null, actorText(d.actor)),
    ' ',
    h('span', { class: 'audit-action', 'data-action': d.action ?? '' }, d.action ?? 'acted'),
    withTask && event.taskId ? [' ', h(Link, { href: `tasks/${event.taskId}`, class: 'mono', title: event.taskId }, shortId(event.taskId))] : null,
    ' ',
    h(Transition, { before: d.statusBefore, after: d.statusAfter }),
    d.outcome && d.outcome !== 'ok' ? h('span', { class: 'bad' }, ` ${d.outcome}`) : null,
    d.requestId ? h('span', { class: 'muted small' }, ` · request ${d.requestId}`) : null,
  );
}

export function Timeline({ events }: { events: TaskEventView[] }) {
  if (!events.length) return h(Empty, null, 'No events recorded.');
  return h(
    'ol',
    { class: 'timeline' },
    events.map((e) =>
      h(
        'li',
        { key: e.id, class: e.type === 'audit' ? 'audit' : '', 'data-event': e.type },
        h(RelTime, { at: e.timestamp }),
        h('span', { class: 'event-type' }, e.type),
        e.type === 'audit' ? h(AuditLine, { event: e }) : h('span', { class: 'event-summary' }, summary(e.details)),
      ),
    ),
  );
}

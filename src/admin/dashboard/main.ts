/// <reference lib="dom" />
// The dashboard's shell: header and navigation, permissions, live state, page routing.
import './styles.css';
import { h, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { readableError } from './api';
import { AuditPage } from './audit-page';
import { useLive, useLiveState } from './live';
import { loadPermissions, NO_PERMISSIONS, PermissionsContext, type Permissions } from './permissions';
import { ProcessorsPage } from './processors-page';
import { ResourcesPage } from './resources-page';
import { Link, useRoute, type Route } from './router';
import { TaskDetailPage } from './task-detail-page';
import { TasksPage } from './tasks-page';

const NAV = [
  { href: '', label: 'Tasks', match: (p: string) => p === '' || p === 'tasks' || p.startsWith('tasks/') },
  { href: 'processors', label: 'Processors', match: (p: string) => p === 'processors' },
  { href: 'resources', label: 'Resources', match: (p: string) => p === 'resources' },
  { href: 'audit', label: 'Audit', match: (p: string) => p === 'audit' },
];

const TITLES: Record<string, string> = { '': 'Tasks', tasks: 'Tasks', processors: 'Processors', resources: 'Resources', audit: 'Audit' };

function Page({ route }: { route: Route }) {
  const [first, second] = route.path.split('/');
  if ((first === '' || first === 'tasks') && !second) return h(TasksPage, { route });
  if (first === 'tasks' && second) return h(TaskDetailPage, { id: second });
  if (first === 'processors') return h(ProcessorsPage, { route });
  if (first === 'resources') return h(ResourcesPage, null);
  if (first === 'audit') return h(AuditPage, { route });
  return h('section', { class: 'page' }, h('h1', null, 'Not found'), h('p', null, `The dashboard has no page "${route.path}". `, h(Link, { href: '' }, 'Go to the task list')));
}

function LiveIndicator() {
  const state = useLiveState();
  const text = { live: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', off: 'Not live' }[state];
  return h('span', { class: `live live-${state}`, role: 'status', 'aria-live': 'polite', 'data-live': state }, h('i', { 'aria-hidden': 'true' }), text);
}

function Who({ perms }: { perms: Permissions }) {
  const role = perms.principal
    ? `${perms.principal.id ?? 'signed in'}${perms.principal.roles?.length ? ` · ${perms.principal.roles.join(', ')}` : perms.principal.admin ? ' · admin' : ''}`
    : perms.actions.size === 0
      ? 'read only'
      : perms.bulk && perms.create
        ? 'full access'
        : `can ${[...perms.actions].join(', ')}`;
  return h('span', { class: 'who', 'data-role': role, title: perms.source === 'probe' ? 'Permissions found out by asking the API (it has no GET /me)' : undefined }, role);
}

function App() {
  const route = useRoute();
  const [perms, setPerms] = useState<Permissions>(NO_PERMISSIONS);
  const [permError, setPermError] = useState<unknown>(null);
  const [permsLoaded, setPermsLoaded] = useState(false);
  useEffect(() => {
    loadPermissions().then(
      (p) => (setPerms(p), setPermsLoaded(true)),
      (e) => (setPermError(e), setPermsLoaded(true)),
    );
  }, []);
  const top = route.path.split('/')[0] ?? '';
  // One event stream for the whole session (pages add their own listeners to it).
  useLive(() => undefined, []);
  useEffect(() => {
    document.title = `${route.path.startsWith('tasks/') ? 'Task' : (TITLES[top] ?? 'upkeep')} · upkeep`;
  }, [route.path]);
  return h(
    PermissionsContext.Provider,
    { value: perms },
    // A button, not `#main`: the fragment holds the route's query.
    h('button', { type: 'button', class: 'skip', onClick: () => document.getElementById('main')?.focus() }, 'Skip to content'),
    h(
      'header',
      { class: 'top' },
      h('span', { class: 'brand' }, 'upkeep'),
      h(
        'nav',
        { 'aria-label': 'Dashboard' },
        NAV.map((n) => h(Link, { key: n.label, href: n.href, class: 'nav-link', 'aria-current': n.match(route.path) ? 'page' : undefined }, n.label)),
      ),
      h('span', { class: 'spacer' }),
      h(LiveIndicator, null),
      h(Who, { perms }),
    ),
    h(
      'main',
      { id: 'main', tabIndex: -1, 'data-perms': permsLoaded ? 'loaded' : 'loading' },
      permError ? h('div', { class: 'error-note', role: 'alert' }, readableError(permError)) : null,
      h(Page, { key: top === 'tasks' && route.path.includes('/') ? route.path : top, route }),
    ),
  );
}

render(h(App, null), document.getElementById('app')!);

/// <reference lib="dom" />
// Processors: each registered type with its props schema, and a form to create a task.
import { h } from 'preact';
import { api, type JsonSchema, type ProcessorView } from './api';
import { usePermissions } from './permissions';
import { Link, type Route } from './router';
import { CreateTaskForm } from './schema-form';
import { Empty, ErrorNote, Json, useLoad } from './ui';

function constraintsOf(s: JsonSchema): string {
  const skip = new Set(['type', 'items', 'writeOnly']);
  const parts = Object.entries(s)
    .filter(([k]) => !skip.has(k))
    .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  if (s.items) parts.push(`items: ${[s.items.type, constraintsOf(s.items)].filter(Boolean).join(' ')}`);
  return parts.join('; ');
}

function SchemaTable({ schema }: { schema: JsonSchema }) {
  const props = Object.entries(schema.properties ?? {});
  if (!props.length) return h(Empty, null, 'No props.');
  const required = new Set(schema.required ?? []);
  return h(
    'table',
    { class: 'compact-table' },
    h('thead', null, h('tr', null, h('th', null, 'Prop'), h('th', null, 'Type'), h('th', null, 'Required'), h('th', null, 'Constraints'))),
    h(
      'tbody',
      null,
      props.map(([name, s]) =>
        h(
          'tr',
          { key: name },
          h('td', { class: 'mono' }, name, s.writeOnly ? h('span', { class: 'badge sensitive', title: 'Masked in every response' }, 'sensitive') : null),
          h('td', null, Array.isArray(s.type) ? s.type.join(' | ') : (s.type ?? 'any')),
          h('td', null, required.has(name) ? 'yes' : 'no'),
          h('td', { class: 'small' }, constraintsOf(s)),
        ),
      ),
    ),
  );
}

export function ProcessorsPage({ route }: { route: Route }) {
  const perms = usePermissions();
  const list = useLoad((signal) => api<{ items: ProcessorView[] }>('processors', { signal }), []);
  const items = list.data?.items ?? [];
  const selectedType = route.query.get('type') ?? items[0]?.type;
  const p = items.find((x) => x.type === selectedType);
  return h(
    'section',
    { class: 'page', 'aria-labelledby': 'processors-title' },
    h('div', { class: 'page-head' }, h('h1', { id: 'processors-title' }, 'Processors'), h('span', { class: 'muted' }, `${items.length} registered`)),
    h(ErrorNote, { error: list.error }),
    list.data && !items.length ? h(Empty, null, 'No processors are registered with this Upkeep.') : null,
    h(
      'div',
      { class: 'split' },
      h(
        'nav',
        { class: 'side-list', 'aria-label': 'Processor types' },
        h('ul', null, items.map((x) => h('li', { key: x.type }, h(Link, { href: `processors?type=${encodeURIComponent(x.type)}`, 'aria-current': x.type === selectedType ? 'page' : undefined }, x.type)))),
      ),
      p
        ? h(
            'div',
            { class: 'stack', 'data-processor': p.type },
            h(
              'div',
              { class: 'card' },
              h('h2', null, p.type, ' ', h('span', { class: 'muted small' }, p.className)),
              h('p', null, h(Link, { href: `?type=${encodeURIComponent(p.type)}` }, `Tasks of type ${p.type} →`)),
              h('h3', null, 'Props'),
              h(SchemaTable, { schema: p.propsSchema }),
              Object.keys(p.options ?? {}).length ? [h('h3', { key: 'o' }, 'Options'), h(Json, { key: 'j', value: p.options })] : null,
              h('details', null, h('summary', null, 'JSON Schema'), h(Json, { value: p.propsSchema })),
            ),
            h(
              'div',
              { class: 'card' },
              h('h2', null, 'Create a task'),
              perms.create ? h(CreateTaskForm, { key: p.type, processor: p }) : h('p', { class: 'muted' }, 'Your role cannot create tasks.'),
            ),
          )
        : null,
    ),
  );
}

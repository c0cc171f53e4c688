/// <reference lib="dom" />
// A form generated from a processor's props JSON Schema. The API validates (with the
// processor's class-validator rules); its messages are shown at the field they name.
import { h } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError, type JsonSchema, type ProcessorView, type TaskDetail } from './api';
import { Link } from './router';
import { ErrorNote, Notice, shortId } from './ui';

type Values = Record<string, string | boolean>;

const typeOf = (s: JsonSchema | undefined): string => (Array.isArray(s?.type) ? (s!.type as string[]).find((t) => t !== 'null') : (s?.type as string | undefined)) ?? 'any';

/** Turns the text of a field into the JSON value its schema asks for; throws a message when it cannot. */
export function parseField(schema: JsonSchema, raw: string | boolean): unknown {
  const type = typeOf(schema);
  if (type === 'boolean') return raw === true;
  const text = String(raw).trim();
  if (type === 'integer' || type === 'number') {
    const n = Number(text);
    if (!text || !Number.isFinite(n)) throw new Error(`must be a ${type === 'integer' ? 'whole number' : 'number'}`);
    return n;
  }
  if (type === 'array') {
    if (text.startsWith('[')) return JSON.parse(text);
    const items = text.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
    const itemType = typeOf(schema.items);
    return items.map((s) => (itemType === 'integer' || itemType === 'number' ? (Number.isFinite(Number(s)) ? Number(s) : s) : itemType === 'boolean' ? s === 'true' : s));
  }
  if (type === 'object' || type === 'any') {
    if (!text) return type === 'object' ? {} : undefined;
    try {
      return JSON.parse(text);
    } catch {
      if (type === 'any') return text;
      throw new Error('must be JSON, e.g. {"key": "value"}');
    }
  }
  return String(raw);
}

/** Which field a problem the API reported belongs to (`body.props.batchSize`, `userIds.0`, `batchSize`). */
export function fieldOf(property: string, fields: string[]): string | null {
  const bare = property.replace(/^body\.(props\.)?/, '').replace(/^options\./, 'options.');
  const head = bare.startsWith('options.') ? bare.split('.').slice(0, 2).join('.') : bare.split(/[.[]/)[0]!;
  return fields.includes(head) ? head : null;
}

function hint(schema: JsonSchema): string {
  const parts: string[] = [];
  const type = typeOf(schema);
  if (type === 'array') parts.push(`list of ${typeOf(schema.items)}: one per line or comma-separated`);
  else if (type !== 'string' && type !== 'any') parts.push(type);
  if (schema.minimum !== undefined) parts.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) parts.push(`≤ ${schema.maximum}`);
  if (schema.minLength !== undefined) parts.push(`at least ${schema.minLength} characters`);
  if (schema.maxLength !== undefined) parts.push(`at most ${schema.maxLength} characters`);
  if (schema.maxItems !== undefined) parts.push(`at most ${schema.maxItems} items`);
  if (schema.format) parts.push(String(schema.format));
  if (schema.writeOnly) parts.push('sensitive: masked after saving');
  return parts.join(', ');
}

const OPTION_FIELDS: Array<{ name: string; label: string; schema: JsonSchema }> = [
  { name: 'options.priority', label: 'Priority', schema: { type: 'integer' } },
  { name: 'options.delayMs', label: 'Delay (ms)', schema: { type: 'integer', minimum: 0 } },
  { name: 'options.maxAttempts', label: 'Max attempts', schema: { type: 'integer', minimum: 1 } },
  { name: 'options.uniqueKey', label: 'Unique key', schema: { type: 'string' } },
  { name: 'options.inactive', label: 'Create inactive (start it later)', schema: { type: 'boolean' } },
];

export function CreateTaskForm({ processor }: { processor: ProcessorView }) {
  const props = Object.entries(processor.propsSchema.properties ?? {});
  const required = new Set(processor.propsSchema.required ?? []);
  const [values, setValues] = useState<Values>({});
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<TaskDetail | null>(null);
  const [busy, setBusy] = useState(false);
  const fieldNames = [...props.map(([k]) => k), ...OPTION_FIELDS.map((o) => o.name)];
  const formId = `create-${processor.type.replace(/[^\w-]/g, '_')}`;

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setCreated(null);
    const local: Record<string, string> = {};
    const body: { type: string; props: Record<string, unknown>; options: Record<string, unknown> } = { type: processor.type, props: {}, options: {} };
    for (const [name, schema] of [...props, ...OPTION_FIELDS.map((o) => [o.name, o.schema] as [string, JsonSchema])]) {
      const raw = values[name];
      if (raw === undefined || raw === '' || (raw === false && typeOf(schema) === 'boolean' && name.startsWith('options.'))) continue;
      try {
        const v = parseField(schema, raw);
        if (v === undefined) continue;
        if (name.startsWith('options.')) body.options[name.slice(8)] = v;
        else body.props[name] = v;
      } catch (err) {
        local[name] = (err as Error).message;
      }
    }
    setProblems(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      setCreated(await api<TaskDetail>('tasks', { method: 'POST', body }));
    } catch (err) {
      if (err instanceof ApiError && err.status === 400) {
        const at: Record<string, string> = {};
        const elsewhere: string[] = [];
        for (const p of err.fieldProblems) {
          const f = fieldOf(p.property, fieldNames);
          if (f) at[f] = at[f] ? `${at[f]}; ${p.message}` : p.message;
          else elsewhere.push(`${p.property}: ${p.message}`);
        }
        setProblems(at);
        if (elsewhere.length || !Object.keys(at).length) setError(err);
      } else setError(err);
    } finally {
      setBusy(false);
    }
  };

  const input = (name: string, label: string, schema: JsonSchema, req: boolean) => {
    const id = `${formId}-${name.replace(/\./g, '-')}`;
    const type = typeOf(schema);
    const problem = problems[name];
    const describedBy = [problem ? `${id}-error` : '', `${id}-hint`].filter(Boolean).join(' ');
    const common = { id, name, 'aria-invalid': problem ? 'true' : 'false', 'aria-describedby': describedBy, 'data-field': name };
    const set = (v: string | boolean) => setValues((s) => ({ ...s, [name]: v }));
    let control;
    if (type === 'boolean') control = h('input', { ...common, type: 'checkbox', checked: values[name] === true, onChange: (e: Event) => set((e.target as HTMLInputElement).checked) });
    else if (Array.isArray(schema.enum)) {
      control = h('select', { ...common, value: String(values[name] ?? ''), onChange: (e: Event) => set((e.target as HTMLSelectElement).value) }, h('option', { value: '' }, '—'), schema.enum.map((v) => h('option', { key: String(v), value: String(v) }, String(v))));
    } else if (type === 'array' || type === 'object' || type === 'any') {
      control = h('textarea', { ...common, rows: 3, value: String(values[name] ?? ''), onInput: (e: Event) => set((e.target as HTMLTextAreaElement).value) });
    } else {
      control = h('input', {
        ...common,
        type: schema.writeOnly ? 'password' : type === 'integer' || type === 'number' ? 'number' : 'text',
        step: type === 'integer' ? 1 : type === 'number' ? 'any' : undefined,
        autoComplete: 'off',
        value: String(values[name] ?? ''),
        onInput: (e: Event) => set((e.target as HTMLInputElement).value),
      });
    }
    return h(
      'div',
      { key: name, class: `field${problem ? ' invalid' : ''}${type === 'boolean' ? ' check' : ''}` },
      h('label', { for: id }, label, req ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
      control,
      h('small', { id: `${id}-hint`, class: 'muted' }, hint(schema)),
      problem ? h('p', { id: `${id}-error`, class: 'field-error', role: 'alert' }, problem) : null,
    );
  };

  return h(
    'form',
    { class: 'create-form', onSubmit: submit, noValidate: true, 'aria-label': `Create a ${processor.type} task` },
    props.length ? props.map(([name, schema]) => input(name, name, schema, required.has(name))) : h('p', { class: 'muted' }, 'This processor takes no props.'),
    h('details', null, h('summary', null, 'Options'), OPTION_FIELDS.map((o) => input(o.name, o.label, o.schema, false))),
    h(ErrorNote, { error, onDismiss: () => setError(null) }),
    created ? h(Notice, { kind: 'ok' }, 'Created task ', h(Link, { href: `tasks/${created.id}`, class: 'mono' }, shortId(created.id)), ` (${created.status}).`) : null,
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary', disabled: busy }, busy ? 'Creating…' : 'Create task')),
  );
}

/// <reference lib="dom" />
// What the signed-in principal may do, so the dashboard shows only the actions it allows.
// Asks `GET /me` when the admin API has it; otherwise finds out without side effects: each
// action is tried on a task id that does not exist (403: not allowed; 404: allowed), create
// with a processor type that does not exist (403 or 400), bulk with one unknown id.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { ACTIONS, api, ApiError, type TaskAction } from './api';

export interface Permissions {
  /** Who the API says is signed in, when it says. */
  principal: { id?: string | null; roles?: string[]; admin?: boolean } | null;
  /** Single-task actions allowed. */
  actions: ReadonlySet<TaskAction>;
  /** Bulk actions (`tasks:bulk`). */
  bulk: boolean;
  /** Creating tasks (`tasks:create`). */
  create: boolean;
  /** How this was learnt: from `GET /me`, or by probing. */
  source: 'me' | 'probe';
}

export const NO_PERMISSIONS: Permissions = { principal: null, actions: new Set(), bulk: false, create: false, source: 'probe' };

const NO_TASK = '00000000-0000-0000-0000-000000000000';

async function allowedBy(call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (error) {
    if (error instanceof ApiError) return error.status !== 403 && error.status !== 401;
    return false;
  }
}

async function probe(): Promise<Permissions> {
  const checks = await Promise.all([
    ...ACTIONS.map((a) => allowedBy(() => api(`tasks/${NO_TASK}/${a}`, { method: 'POST', body: {} }))),
    allowedBy(() => api('tasks', { method: 'POST', body: { type: '\u0000 probe: no such processor' } })),
    allowedBy(() => api('tasks/bulk/retry', { method: 'POST', body: { ids: [NO_TASK] } })),
  ]);
  return {
    principal: null,
    actions: new Set(ACTIONS.filter((_, i) => checks[i])),
    create: checks[ACTIONS.length]!,
    bulk: checks[ACTIONS.length + 1]!,
    source: 'probe',
  };
}

interface MeAnswer {
  principal?: Permissions['principal'];
  permissions?: string[];
}

/** Loads the principal's permissions: `GET /me` first, probing when the API has no such route. */
export async function loadPermissions(): Promise<Permissions> {
  try {
    const me = await api<MeAnswer>('me');
    const granted = new Set(me.permissions ?? []);
    return {
      principal: me.principal ?? null,
      actions: new Set(ACTIONS.filter((a) => granted.has(`tasks:${a}`))),
      bulk: granted.has('tasks:bulk'),
      create: granted.has('tasks:create'),
      source: 'me',
    };
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return probe();
    throw error;
  }
}

export const PermissionsContext = createContext<Permissions>(NO_PERMISSIONS);

/** The principal's permissions (none until loaded). */
export function usePermissions(): Permissions {
  return useContext(PermissionsContext);
}

/** After a 403 the dashboard stops offering that action (another policy may decide per task). */
export function forget(perms: Permissions, action: TaskAction): Permissions {
  const actions = new Set(perms.actions);
  actions.delete(action);
  return { ...perms, actions };
}

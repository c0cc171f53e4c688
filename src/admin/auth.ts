import { ForbiddenError } from '../core/errors';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import type { AdminPermission, AdminPolicy, AdminPrincipal, AdminRole } from './admin-types';

const READ: readonly AdminPermission[] = [
  'tasks:read', 'metrics:read', 'processors:read', 'runners:read', 'schedules:read', 'audit:read', 'events:read', 'dashboard:read', 'openapi:read',
];
const OPERATE: readonly AdminPermission[] = ['tasks:start', 'tasks:cancel', 'tasks:pause', 'tasks:resume', 'tasks:retry'];
const ADMIN_ONLY: readonly AdminPermission[] = ['tasks:reset', 'tasks:create', 'tasks:bulk'];

/** What each built-in role may do. */
export const ROLE_PERMISSIONS: Readonly<Record<AdminRole, ReadonlySet<AdminPermission>>> = {
  viewer: new Set(READ),
  operator: new Set([...READ, ...OPERATE]),
  admin: new Set([...READ, ...OPERATE, ...ADMIN_ONLY]),
};

/** Every permission name. */
export const ALL_PERMISSIONS: readonly AdminPermission[] = [...READ, ...OPERATE, ...ADMIN_ONLY];

/**
 * The default policy: the first seed's `admin === true` may do everything; the built-in
 * `roles` grant what they allow; anyone else nothing.
 */
export const defaultPolicy: AdminPolicy = (principal, action) => {
  if (principal.admin === true) return true;
  const roles = Array.isArray(principal.roles) ? principal.roles : [];
  return roles.some((role) => ROLE_PERMISSIONS[role as AdminRole]?.has(action) === true);
};

/** Checks a permission; throws `ForbiddenError` naming it when the policy says no. */
export async function requirePermission(policy: AdminPolicy, principal: AdminPrincipal, action: AdminPermission, task?: MaintenanceTask): Promise<void> {
  let allowed: boolean;
  try {
    allowed = (await policy(principal, action, task)) === true;
  } catch {
    allowed = false; // a policy that throws denies
  }
  if (!allowed) throw new ForbiddenError(`Missing permission "${action}"${task ? ` on task ${task.id}` : ''}`, { permission: action });
}

/** Validates what `authorize` returned. */
export function checkPrincipal(value: unknown): AdminPrincipal | null {
  if (value === null || value === undefined || value === false) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw new TypeError('authorize() must return a principal object or null');
  return value as AdminPrincipal;
}

/** The actor stored in audit entries. */
export function actorOf(principal: AdminPrincipal): { id: string | null; roles?: string[]; admin?: boolean } {
  const id = typeof principal.id === 'string' || typeof principal.id === 'number' ? String(principal.id) : null;
  return {
    id,
    ...(Array.isArray(principal.roles) ? { roles: principal.roles.map(String) } : {}),
    ...(principal.admin === true ? { admin: true } : {}),
  };
}

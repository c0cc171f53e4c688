import { UpkeepError } from './upkeep-error';

/** The caller is known but lacks the permission an admin action needs: HTTP 403. */
export class ForbiddenError extends UpkeepError {
  /** The permission that was missing, e.g. `tasks:cancel`. */
  readonly permission: string | undefined;

  constructor(message: string, options?: { cause?: unknown; permission?: string }) {
    super('FORBIDDEN', message, options);
    this.name = 'ForbiddenError';
    this.permission = options?.permission;
  }
}

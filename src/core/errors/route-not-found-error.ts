import { UpkeepError } from './upkeep-error';

/** No admin API route matches the method and path: HTTP 404. */
export class RouteNotFoundError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ROUTE_NOT_FOUND', message, options);
    this.name = 'RouteNotFoundError';
  }
}

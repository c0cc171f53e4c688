import { Router, type Request, type Response } from 'express';
import { createAdminHandler } from '../../admin/create-admin-handler';
import type { AdminHandlerOptions } from '../../admin/admin-types';
import { serveNode } from '../../admin/node-http';
import type { Upkeep } from '../../core/upkeep';

/** Options of {@link createUpkeepRouter}: the admin handler's options (`authorize` is required). */
export type UpkeepRouterOptions = AdminHandlerOptions;

/**
 * The admin API as an Express 5 Router: `app.use('/admin', createUpkeepRouter(upkeep, { authorize }))`.
 * It reads raw bodies itself (bounded by `maxBodyBytes`, 413 above), so mount it before or
 * without `express.json()`; a body a parser already read is used as is. Server-Sent Events
 * stream until the client disconnects. `authorize` receives the request with `raw` set to
 * Express's `req` (its `req.user` from your auth middleware, for instance).
 */
export function createUpkeepRouter(upkeep: Upkeep, options: UpkeepRouterOptions): Router {
  const handler = createAdminHandler(upkeep, options);
  const maxBodyBytes = options.maxBodyBytes ?? 1_048_576;
  const router = Router();
  router.use((req: Request, res: Response, next: (error?: unknown) => void) => {
    serveNode(handler, req, res, {
      path: req.path,
      mountPath: req.baseUrl,
      query: req.query as Record<string, string | string[] | undefined>,
      maxBodyBytes,
      raw: req,
    }).catch(next);
  });
  return router;
}

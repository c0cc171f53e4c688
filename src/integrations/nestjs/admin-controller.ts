import { All, Controller, Inject, Req, Res, UseGuards, type CanActivate, type Type } from '@nestjs/common';
import { ApplicationConfig } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminHandler } from '../../admin/admin-types';
import { serveNode } from '../../admin/node-http';

/** Injection token of the admin handler the controller serves. */
export const UPKEEP_ADMIN_HANDLER = Symbol.for('upkeep.nestjs.admin-handler');

type NodeReq = IncomingMessage & { path?: string; query?: Record<string, string | string[] | undefined>; body?: unknown };

/**
 * A controller class serving the admin API under `path` (Express platform: the request and
 * response are Node's, so bodies and event streams go through the core unchanged). Guards
 * given here and global guards run before it.
 */
export function createAdminController(path: string, guards: Array<Function | object>, maxBodyBytes: number): Type<unknown> {
  const clean = path.replace(/^\/+|\/+$/g, '');
  class UpkeepAdminController {
    constructor(
      @Inject(UPKEEP_ADMIN_HANDLER) private readonly handler: AdminHandler,
      @Inject(ApplicationConfig) private readonly config: ApplicationConfig,
    ) {}

    @All(['', '{*path}'])
    async serve(@Req() req: NodeReq, @Res() res: ServerResponse): Promise<void> {
      const global = this.config.getGlobalPrefix().replace(/^\/+|\/+$/g, '');
      const mountPath = `/${[global, clean].filter(Boolean).join('/')}`;
      const full = (req.path ?? req.url ?? '/').split('?')[0]!;
      const rest = full.startsWith(mountPath) ? full.slice(mountPath.length) : full;
      await serveNode(this.handler, req, res, { path: rest || '/', mountPath, query: req.query ?? {}, maxBodyBytes, raw: req });
    }
  }
  Controller(clean)(UpkeepAdminController);
  if (guards.length) UseGuards(...(guards as Array<Type<CanActivate> | CanActivate>))(UpkeepAdminController);
  return UpkeepAdminController;
}

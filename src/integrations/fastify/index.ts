import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { createAdminHandler } from '../../admin/create-admin-handler';
import type { AdminHandlerOptions, AdminRequest } from '../../admin/admin-types';
import { errorResponse } from '../../admin/error-mapping';
import { writeNodeResponse } from '../../admin/node-http';
import { PayloadTooLargeError } from '../../core/errors';
import type { Upkeep } from '../../core/upkeep';

/** Options of {@link upkeepFastifyPlugin}. */
export interface UpkeepFastifyOptions extends AdminHandlerOptions {
  /** The Upkeep instance whose tasks the admin API serves. */
  upkeep: Upkeep;
  /** Where the admin routes are mounted, e.g. `/admin`. @defaultValue '' (the root) */
  prefix?: string;
}

/**
 * The admin API as a Fastify 5 plugin (fastify-plugin style):
 * `app.register(upkeepFastifyPlugin, { upkeep, authorize, prefix: '/admin' })`. Its routes
 * live in an encapsulated child with a raw-body parser bounded by `maxBodyBytes` (413 in the
 * admin API's error shape), so the host's own parsers and error handler are untouched.
 */
const plugin: FastifyPluginAsync<UpkeepFastifyOptions> = async (app: FastifyInstance, opts: UpkeepFastifyOptions) => {
  const { upkeep, prefix: rawPrefix = '', ...adminOptions } = opts;
  const handlerOptions = Object.fromEntries(Object.entries(adminOptions).filter(([k]) => !['logLevel', 'logSerializers'].includes(k))) as unknown as AdminHandlerOptions;
  const handler = createAdminHandler(upkeep, handlerOptions);
  const maxBodyBytes = opts.maxBodyBytes ?? 1_048_576;
  const prefix = rawPrefix.replace(/\/+$/, '');
  await app.register(async (child) => {
    child.removeAllContentTypeParsers();
    child.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBodyBytes }, (_req, body, done) => done(null, body));
    child.setErrorHandler((error: { statusCode?: number; code?: string }, request, reply) => {
      const id = typeof request.headers['x-request-id'] === 'string' ? request.headers['x-request-id'] : request.id;
      const mapped = errorResponse(error.statusCode === 413 || error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? new PayloadTooLargeError(`The body is larger than ${maxBodyBytes} bytes`) : error, String(id)).response;
      void reply.code(mapped.status).headers(mapped.headers).send(JSON.stringify(mapped.body));
    });
    const serve = async (request: FastifyRequest, reply: FastifyReply) => {
      const url = request.url.split('?')[0]!;
      const ac = new AbortController();
      request.raw.once('close', () => request.raw.readableAborted && ac.abort());
      reply.raw.once('close', () => ac.abort());
      const adminRequest: AdminRequest = {
        method: request.method,
        path: url.slice(prefix.length) || '/',
        query: request.query as Record<string, string | string[] | undefined>,
        headers: request.headers as Record<string, string | string[] | undefined>,
        body: request.body,
        mountPath: prefix,
        signal: ac.signal,
        raw: request,
      };
      const response = await handler(adminRequest);
      if (response.stream) {
        reply.hijack();
        await writeNodeResponse(reply.raw, response, (fn) => (ac.signal.aborted ? fn() : ac.signal.addEventListener('abort', fn, { once: true })));
        return reply;
      }
      const body = response.body;
      const isRaw = Buffer.isBuffer(body) || (typeof body === 'string' && !/json/.test(response.headers['content-type'] ?? ''));
      return reply.code(response.status).headers(response.headers).send(body === undefined ? undefined : isRaw ? body : JSON.stringify(body));
    };
    for (const url of [prefix || '/', `${prefix}/*`]) child.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], url, handler: serve }); // every method: the core answers unknown ones in its own shape
  });
};

/**
 * The admin API as a Fastify plugin; see {@link UpkeepFastifyOptions}. Marked the way
 * fastify-plugin marks plugins (skip-override, name, metadata) without depending on it, so
 * decorators it adds are visible to the parent and `prefix` is applied by the plugin itself.
 */
export const upkeepFastifyPlugin = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'upkeep-admin',
  [Symbol.for('plugin-meta')]: { name: 'upkeep-admin', fastify: '5.x' },
});
export default upkeepFastifyPlugin;

/**
 * `npm run example:fastify`: a Fastify 5 server with upkeep's admin API under /admin
 * (`upkeepFastifyPlugin` with `prefix`), a runner in the same process (unless RUNNER=off),
 * and the demo processors. Env as in the Express example (PORT, DATABASE_URL, SQLITE_PATH,
 * ADMIN_TOKEN, UPKEEP_DEMO_AUTH, UPKEEP_DEMO_PRINCIPAL, RUNNER).
 */
import Fastify from 'fastify';
import type { AddressInfo } from 'node:net';
import { Upkeep } from '../../src';
import { upkeepFastifyPlugin } from '../../src/integrations/fastify'; // in your app: 'upkeep/fastify'
import { DEMO_PROCESSORS, demoAuthorize, openDemoDataSource, runnerEnabled } from '../express-server/demo-common';

const dataSource = await openDemoDataSource();
const upkeep = new Upkeep({ dataSource, processors: DEMO_PROCESSORS });
const runner = runnerEnabled() ? upkeep.createRunner({ concurrency: 4, pollIntervalMs: 200, heartbeatIntervalMs: 1000 }) : undefined;
await runner?.start();

const app = Fastify();
app.get('/', async (_req, reply) => reply.redirect('/admin/dashboard'));
await app.register(upkeepFastifyPlugin, { upkeep, authorize: demoAuthorize, prefix: '/admin' });
await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
const { port } = app.server.address() as AddressInfo;
console.log(`upkeep example listening on http://127.0.0.1:${port}/admin (${dataSource.options.type}, runner ${runner ? 'on' : 'off'})`);

const shutdown = async () => {
  app.server.closeAllConnections();
  await app.close();
  await upkeep.close();
  await dataSource.destroy();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown());
process.once('SIGINT', () => void shutdown());

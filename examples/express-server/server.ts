/**
 * `npm run example:express`: an Express 5 server with upkeep's admin API under /admin, a
 * runner in the same process (unless RUNNER=off) and two demo processors.
 *
 * Env: PORT (default 3000; 0 picks a free port), DATABASE_URL (PostgreSQL or MySQL; default
 * SQLite at SQLITE_PATH or a temp file), ADMIN_TOKEN, UPKEEP_DEMO_AUTH=x-role,
 * UPKEEP_DEMO_PRINCIPAL=viewer|operator|admin (see demo-common.ts: demo-only auth), RUNNER=off.
 * Prints `upkeep example listening on http://127.0.0.1:PORT/admin` once ready.
 */
import express from 'express';
import type { AddressInfo } from 'node:net';
import { Upkeep } from '../../src';
import { createUpkeepRouter } from '../../src/integrations/express'; // in your app: 'upkeep/express'
import { DEMO_PROCESSORS, demoAuthorize, openDemoDataSource, runnerEnabled } from './demo-common';

const dataSource = await openDemoDataSource();
const upkeep = new Upkeep({ dataSource, processors: DEMO_PROCESSORS });
const runner = runnerEnabled() ? upkeep.createRunner({ concurrency: 4, pollIntervalMs: 200, heartbeatIntervalMs: 1000 }) : undefined;
await runner?.start();

const app = express();
app.get('/', (_req, res) => res.redirect('/admin/dashboard'));
app.use('/admin', createUpkeepRouter(upkeep, { authorize: demoAuthorize }));

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  console.log(`upkeep example listening on http://127.0.0.1:${port}/admin (${dataSource.options.type}, runner ${runner ? 'on' : 'off'})`);
});

const shutdown = async () => {
  server.close();
  server.closeAllConnections?.();
  await upkeep.close();
  await dataSource.destroy();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown());
process.once('SIGINT', () => void shutdown());

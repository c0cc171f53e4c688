/**
 * A runner on its own (no HTTP): `tsx examples/express-server/runner.ts`, with the same env
 * as the server. Its progress reaches the server's event stream through the database.
 */
import { Upkeep } from '../../src';
import { DEMO_PROCESSORS, openDemoDataSource } from './demo-common';

const dataSource = await openDemoDataSource();
const upkeep = new Upkeep({ dataSource, processors: DEMO_PROCESSORS });
const runner = upkeep.createRunner({ concurrency: 4, pollIntervalMs: 100, heartbeatIntervalMs: 1000 });
await runner.start();
console.log(`upkeep runner ready (pid ${process.pid}, ${dataSource.options.type})`);
const stop = async () => {
  await upkeep.close();
  await dataSource.destroy();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());

/**
 * Where the time goes per task: a CPU profile (node:inspector, in process) of one upkeep
 * runner at default settings processing a bulk-enqueued backlog on PostgreSQL, summed by
 * where the code lives (upkeep's own folders, TypeORM, pg, Node internals), plus idle time
 * (waiting on the database) and garbage collection, and the commits per task.
 *
 *   npm run bench:profile [-- --tasks 20000 --no-analyze --save /tmp/upkeep.cpuprofile]
 *
 * The .cpuprofile opens in Chrome DevTools (Performance > Load profile) or speedscope.
 */
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { UpkeepSubject } from './peers/upkeep';
import { createPgDatabase, dropPgDatabase, PgProbe } from './lib/pg';
import { flag, fmt, has, intFlag, loadAverage, log, machine, sleep, table, waitFor } from './lib/util';

const TASKS = intFlag('tasks', 20_000);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The bucket a frame's time goes to. */
function bucket(node: ProfileNode): string {
  const { functionName, url } = node.callFrame;
  if (functionName === '(idle)') return 'idle (waiting on the database)';
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(program)') return 'V8 / native (program)';
  const src = url.match(/\/src\/([^/]+)\//);
  if (src && !url.includes('node_modules')) return `upkeep src/${src[1]}/`;
  const mod = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (mod) return mod[1] === 'typeorm' ? 'typeorm' : mod[1] === 'pg' || mod[1]!.startsWith('pg-') ? 'pg (driver, protocol)' : mod[1] === 'tsx' ? 'tsx loader' : `other packages (${mod[1]}, ...)`;
  if (url === '') {
    if (functionName === 'writev' || functionName === 'writeBuffer' || functionName === 'writeUtf8String') return 'native socket writes (writev: queries to the database)';
    if (functionName === 'rss' || functionName === 'memoryUsage') return 'native process.memoryUsage (resource tracking)';
    if (functionName === 'dispatch') return 'the profiler itself (inspector dispatch)';
    return `native ${functionName || '(anonymous)'}`;
  }
  if (url.startsWith('node:')) return `Node.js ${url.replace(/^node:(internal\/)?/, '').split('/')[0]!.replace(/_.*$/, '')}`;
  if (url.includes('/bench/')) return 'this bench (handler, polling)';
  return 'other';
}

async function main(): Promise<void> {
  const database = `bench_profile_${Date.now().toString(36)}`;
  log(`CPU profile of upkeep (defaults, concurrency 10) processing ${fmt(TASKS)} no-op tasks on PostgreSQL; commit ${machine().commit}; load ${loadAverage().join(', ')}`);
  await createPgDatabase(database);
  const probe = new PgProbe(database);
  await probe.connect();
  const subject = new UpkeepSubject({ name: 'profile', dialect: 'postgres', pgDatabase: database, probe });
  const session = new Session();
  session.connect();
  try {
    await subject.setup(0);
    await subject.addBatches(TASKS, 1000);
    if (!has('no-analyze')) await probe.query('ANALYZE');
    await sleep(1100);
    const c0 = await probe.commits();
    const own0 = probe.ownCommits;
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 500 });
    let runs = 0;
    const t0 = performance.now();
    await session.post('Profiler.start');
    const worker = await subject.startWorker(() => {
      runs += 1;
    });
    await waitFor('tasks run', () => runs >= TASKS, 600_000, 20);
    const ms = performance.now() - t0;
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: Profile };
    await worker.stop();
    await sleep(1100);
    const commits = (await probe.commits()) - c0 - (probe.ownCommits - own0);
    const save = flag('save');
    if (save) writeFileSync(save, JSON.stringify(profile));

    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const totals = new Map<string, number>();
    let all = 0;
    profile.samples.forEach((id, i) => {
      const dt = profile.timeDeltas[i] ?? 0;
      all += dt;
      const key = bucket(byId.get(id)!);
      totals.set(key, (totals.get(key) ?? 0) + dt);
    });
    const perTaskUs = (us: number) => us / TASKS;
    const sorted = [...totals.entries()].sort((a, b) => b[1] - a[1]);
    const top = sorted.slice(0, 16);
    const rest = sorted.slice(16).reduce((sum, [, us]) => sum + us, 0);
    if (rest > 0) top.push([`everything else (${sorted.length - 16} buckets)`, rest]);
    const rows = top.map(([k, us]) => [k, `${((100 * us) / all).toFixed(1)} %`, perTaskUs(us).toFixed(0)]);
    console.log(`\n${fmt(TASKS)} tasks in ${(ms / 1000).toFixed(1)} s: ${fmt((TASKS / ms) * 1000)} tasks/s, ${(commits / TASKS).toFixed(3)} commits per task (${fmt(commits)} commits)\n`);
    console.log(table([['where (self time)', 'share', 'µs per task'], ...rows]));
    const busy = all - (totals.get('idle (waiting on the database)') ?? 0);
    console.log(`\nbusy (not idle): ${fmt(perTaskUs(busy))} µs per task; garbage collection ${((100 * (totals.get('garbage collection') ?? 0)) / Math.max(1, busy)).toFixed(1)} % of busy time`);
    if (save) console.log(`profile written to ${save}`);
  } finally {
    session.disconnect();
    await subject.teardown().catch(() => {});
    await probe.end();
    await dropPgDatabase(database);
  }
}

await main();

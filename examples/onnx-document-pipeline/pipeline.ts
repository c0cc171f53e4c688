// The ONNX document pipeline: a generated scorer model, pooled sessions, a runner.
// Run: npm run example:onnx [-- --documents 2000 --instances 2]
import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DataSource } from 'typeorm';
import { ServicePool, Upkeep, UPKEEP_ENTITIES, UPKEEP_MIGRATIONS, cpuOnly } from './setup';
import { createOnnxSessionFactory, type OnnxSessionService } from '../../src/integrations/onnx';
import { createScorerWeights, encodeScorerModel, seededRandom, type ScorerWeights } from '../../scripts/generate-onnx-model';
import { Document } from './document.entity';
import { DocumentScoringProcessor } from './document-scoring.processor';
import { FEATURES } from './features';

const WORDS = 'invoice contract refund shipping delay warranty outage password billing upgrade account invoice urgent legal'.split(' ');

export interface PipelineResult {
  weights: ScorerWeights;
  dataSource: DataSource;
  upkeep: Upkeep;
  pool: ServicePool<OnnxSessionService>;
  wallMs: number;
  close(): Promise<void>;
}

/** Builds everything, scores `documents` documents and returns what a caller needs to check. */
export async function runPipeline(options: { documents?: number; instances?: number; log?: (line: string) => void } = {}): Promise<PipelineResult> {
  const documents = options.documents ?? 1000;
  const instances = options.instances ?? 2;
  const log = options.log ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'upkeep-onnx-'));
  const weights = createScorerWeights({ inputSize: FEATURES, hiddenSize: 32, seed: 42 });
  const modelPath = join(dir, 'scorer.onnx');
  writeFileSync(modelPath, encodeScorerModel(weights));
  log(`model: ${modelPath} (${FEATURES} -> 32 -> 1 MLP, generated in code)`);

  const dataSource = new DataSource({
    type: 'better-sqlite3',
    database: join(dir, 'pipeline.db'),
    entities: [...UPKEEP_ENTITIES, Document],
    migrations: [...UPKEEP_MIGRATIONS],
    migrationsRun: true,
  });
  await dataSource.initialize();
  await dataSource.query('CREATE TABLE documents (id varchar(64) PRIMARY KEY, text text NOT NULL, score float NULL)');
  const random = seededRandom(7);
  const docs = Array.from({ length: documents }, (_, i) => ({
    id: `doc-${String(i).padStart(5, '0')}`,
    text: Array.from({ length: 8 + Math.floor(random() * 24) }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' '),
    score: null,
  }));
  await dataSource.getRepository(Document).insert(docs);

  const pool = new ServicePool<OnnxSessionService>({
    name: 'document-scorer',
    devices: cpuOnly(),
    maxPerDevice: instances,
    factory: createOnnxSessionFactory({ model: modelPath, expectedInstances: instances, memoryMb: 64 }),
  });
  const upkeep = new Upkeep({ dataSource, processors: [DocumentScoringProcessor], services: { scorerPool: pool }, pools: [pool], devices: cpuOnly() });
  let done = 0;
  const chunks: string[][] = [];
  for (let i = 0; i < docs.length; i += 100) chunks.push(docs.slice(i, i + 100).map((d) => d.id));
  upkeep.events.on('task:completed', () => {
    done++;
    if (done % Math.max(1, Math.floor(chunks.length / 4)) === 0 || done === chunks.length) log(`  ${done}/${chunks.length} tasks scored`);
  });
  await upkeep.createTasks(chunks.map((documentIds) => ({ processor: DocumentScoringProcessor.create({ documentIds, batchSize: 50 }) })));
  log(`enqueued ${chunks.length} tasks of up to 100 documents; running with ${instances} pooled sessions...`);
  const started = performance.now();
  await upkeep.runDue({ concurrency: instances * 2 });
  const wallMs = performance.now() - started;
  return {
    weights,
    dataSource,
    upkeep,
    pool,
    wallMs,
    close: async () => {
      await upkeep.close();
      await pool.close();
      await dataSource.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function main() {
  const arg = (name: string, fallback: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log('upkeep example: ONNX document pipeline (CPU)');
  const result = await runPipeline({ documents: arg('documents', 2000), instances: arg('instances', 2), log });
  try {
    const counts = await result.upkeep.countByStatus();
    const [{ scored, mean }] = await result.dataSource.query('SELECT COUNT(score) AS scored, AVG(score) AS mean FROM documents');
    const metrics = await result.upkeep.metrics();
    const pool = result.pool.stats();
    log('');
    log('Summary');
    log(`  documents scored        ${scored}`);
    log(`  mean score              ${Number(mean).toFixed(4)}`);
    log(`  tasks by status         ${Object.entries(counts).filter(([, n]) => n).map(([s, n]) => `${s} ${n}`).join(', ')}`);
    log(`  wall time               ${(result.wallMs / 1000).toFixed(2)} s  (${Math.round((Number(scored) / result.wallMs) * 1000)} documents/s)`);
    log(`  pool instances          ${pool.totals.size} created, ${pool.totals.inUse} in use now`);
    log(`  average wait            ${metrics.averageWaitTime === null ? 'n/a' : `${(metrics.averageWaitTime * 1000).toFixed(1)} ms`}`);
    log('');
    log('Metrics (Prometheus text, non-zero samples)');
    for (const line of (await result.upkeep.prometheus()).split('\n').filter((l) => l && !l.startsWith('#') && !/ 0$/.test(l))) log(`  ${line}`);
    if (counts.COMPLETED !== Math.ceil(Number(scored) / 100) || counts.ERROR) process.exitCode = 1;
  } finally {
    await result.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}

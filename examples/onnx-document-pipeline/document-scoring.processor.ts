import { ArrayMaxSize, ArrayMinSize, IsArray, IsInt, IsString, Max, Min } from 'class-validator';
import { In } from 'typeorm';
import { MaintenanceTaskProcessor, Processor, UnrecoverableTaskError, type MaintenanceTask, type ResourceRequest, type ServicePool, type TaskContext } from '../../src';
import type { OnnxSessionService } from '../../src/integrations/onnx';
import { Document } from './document.entity';
import { FEATURES, featurize } from './features';

/**
 * Scores up to 500 documents with the pooled ONNX scorer. The session comes from the
 * pool (`ctx.acquire`), never created per task; inference runs in the session's worker
 * thread, so the event loop stays free.
 */
@Processor('document-scoring', { maxAttempts: 3, timeoutMs: 120_000 })
export class DocumentScoringProcessor extends MaintenanceTaskProcessor<{ scored: number; meanScore: number; device: string }> {
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(500) @IsString({ each: true })
  documentIds!: string[];

  /** Documents per inference; halved after an out-of-memory failure. */
  @IsInt() @Min(1) @Max(500)
  batchSize = 64;

  override resources(): ResourceRequest {
    // A rough estimate: the session plus one batch of activations.
    return { memoryMb: 64 + Math.ceil((this.batchSize * FEATURES * 4 * 4) / 1048576) };
  }

  override reduceMemory(factor: number): void {
    this.batchSize = Math.max(1, Math.floor(this.batchSize * factor));
  }

  async process(_task: MaintenanceTask, ctx: TaskContext) {
    const pool = ctx.services.scorerPool as ServicePool<OnnxSessionService> | undefined;
    if (!pool) throw new UnrecoverableTaskError('new Upkeep({ services: { scorerPool } }) is missing');
    const repo = ctx.dataSource.getRepository(Document);
    ctx.stage('load');
    const docs = await repo.findBy({ id: In(this.documentIds) });
    ctx.stage('acquire');
    const lease = await ctx.acquire(pool);
    let total = 0;
    try {
      ctx.stage('infer');
      for (let start = 0; start < docs.length; start += this.batchSize) {
        ctx.throwIfStopping();
        const batch = docs.slice(start, start + this.batchSize);
        const input = new Float32Array(batch.length * FEATURES);
        batch.forEach((doc, i) => featurize(doc.text, input.subarray(i * FEATURES, (i + 1) * FEATURES)));
        const out = await lease.service.run({ features: { type: 'float32', data: input, dims: [batch.length, FEATURES] } }, { signal: ctx.signal });
        const scores = out.score!.data as Float32Array;
        batch.forEach((doc, i) => {
          doc.score = scores[i]!;
          total += scores[i]!;
        });
        ctx.progress(Math.min(start + this.batchSize, docs.length), docs.length);
      }
    } finally {
      await lease.release();
    }
    ctx.stage('store');
    await repo.save(docs);
    return { scored: docs.length, meanScore: docs.length ? total / docs.length : 0, device: lease.device };
  }
}

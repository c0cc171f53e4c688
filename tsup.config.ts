import { defineConfig } from 'tsup';

// One build for every entry and both formats: entries share chunks, so an error class
// (or the processor base class) is the same class whichever entry loaded it.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'integrations/onnx/index': 'src/integrations/onnx/index.ts',
    'integrations/onnx/inference-worker': 'src/integrations/onnx/inference-worker.ts',
    'integrations/express/index': 'src/integrations/express/index.ts',
    'integrations/fastify/index': 'src/integrations/fastify/index.ts',
    'integrations/nestjs/index': 'src/integrations/nestjs/index.ts',
    'integrations/prometheus/index': 'src/integrations/prometheus/index.ts',
    'integrations/opentelemetry/index': 'src/integrations/opentelemetry/index.ts',
    'testing/index': 'src/testing/index.ts',
    // `npx upkeep` (package.json "bin" points at the ESM build); in this build so it shares the classes of `upkeep`.
    'cli/bin': 'src/cli/bin.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  splitting: true,
  // No source maps in the package: dist is unminified and readable, and maps with sourcesContent
  // would ship every source file a second time (docs/getting-started.md, "What the package ships").
  sourcemap: false,
  clean: true,
  target: 'node20',
  platform: 'node',
  treeshake: true,
  // Peers (required and optional) are never bundled.
  external: ['typeorm', 'reflect-metadata', 'class-validator', 'class-transformer', 'onnxruntime-node', 'express', 'fastify', 'rxjs', /^@nestjs\//, 'prom-client', /^@opentelemetry\//, 'tsx', 'commander'],
});

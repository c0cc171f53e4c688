import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/core/errors';
import { currentModuleUrl, resolveInferenceWorker } from '../../../src/integrations/onnx/worker-location';

let root: string;
const touch = (...parts: string[]) => {
  const file = join(root, ...parts);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, '');
  return file;
};
const url = (...parts: string[]) => pathToFileURL(join(root, ...parts)).href;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'upkeep-worker-location-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('resolveInferenceWorker', () => {
  it('finds the ESM worker next to the ESM entry and the CJS worker next to the CJS entry', () => {
    const esm = touch('esm/dist/integrations/onnx/inference-worker.js');
    const cjs = touch('esm/dist/integrations/onnx/inference-worker.cjs');
    const fromEsm = resolveInferenceWorker(undefined, url('esm/dist/integrations/onnx/index.js'));
    expect(fromEsm).toMatchObject({ eval: false, file: esm });
    const fromCjs = resolveInferenceWorker(undefined, url('esm/dist/integrations/onnx/index.cjs'));
    expect(fromCjs).toMatchObject({ eval: false, file: cjs });
    expect(fromCjs.target).toBeInstanceOf(URL);
  });

  it('finds the worker from a shared chunk at the root of dist', () => {
    const worker = touch('chunked/dist/integrations/onnx/inference-worker.js');
    expect(resolveInferenceWorker(undefined, url('chunked/dist/chunk-ABC123.js')).file).toBe(worker);
  });

  it('says what to do when the worker is missing (bundled apps)', () => {
    touch('empty/dist/index.js');
    expect(() => resolveInferenceWorker(undefined, url('empty/dist/index.js'))).toThrow(InvalidArgumentError);
    expect(() => resolveInferenceWorker(undefined, url('empty/dist/index.js'))).toThrow(/workerUrl/);
  });

  it('takes an explicit path or URL', () => {
    const worker = touch('custom/worker.mjs');
    expect(resolveInferenceWorker(worker).file).toBe(worker);
    expect(resolveInferenceWorker(pathToFileURL(worker)).file).toBe(worker);
    expect(() => resolveInferenceWorker(join(root, 'custom/none.mjs'))).toThrow(/no inference worker/);
  });

  it('starts the TypeScript worker through tsx when running from sources', () => {
    expect(currentModuleUrl()).toMatch(/worker-location\.ts$/);
    const launch = resolveInferenceWorker();
    expect(launch.eval).toBe(true);
    expect(launch.file).toBe(fileURLToPath(new URL('../../../src/integrations/onnx/inference-worker.ts', import.meta.url)));
    expect(launch.target).toContain('tsx');
    expect(launch.target).toContain('register()');
  });
});

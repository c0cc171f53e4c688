import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { workerExecArgv } from '../../../src/integrations/onnx/worker-location';
import { generateScorerModel } from '../../../scripts/generate-onnx-model';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'upkeep-onnx-eval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the inference worker started from `node --input-type=module -e`', () => {
  it('workerExecArgv drops the flags that describe the main entry point, keeps the rest', () => {
    expect(workerExecArgv(['--input-type=module', '-e', 'code()', '--max-old-space-size=512'])).toEqual(['--max-old-space-size=512']);
    expect(workerExecArgv(['--import', 'tsx', '--input-type', 'module', '--eval', 'x'])).toEqual(['--import', 'tsx']);
    expect(workerExecArgv(['-p', '1+1', '--enable-source-maps'])).toEqual(['--enable-source-maps']);
    expect(workerExecArgv([])).toEqual([]);
  });

  it('opens a session and runs it (it failed with DeviceUnavailableError: "--input-type can only be used with string input")', async () => {
    const model = join(dir, 'scorer.onnx');
    writeFileSync(model, generateScorerModel({ inputSize: 4, hiddenSize: 3 }));
    const entry = pathToFileURL(join(repo, 'src', 'integrations', 'onnx', 'index.ts')).href;
    const code = `
      import { createOnnxSession } from ${JSON.stringify(entry)};
      const session = await createOnnxSession({ model: ${JSON.stringify(model)}, device: 'cpu' });
      const out = await session.run({ features: { data: new Float32Array([1, 2, 3, 4]), dims: [1, 4] } });
      console.log('outputs:' + Object.keys(out).join(','));
      await session.close();`;
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: repo, timeout: 60_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect(result.stderr).not.toContain('DeviceUnavailableError');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('outputs:score');
  }, 60_000);
});

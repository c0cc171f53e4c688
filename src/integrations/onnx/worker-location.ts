import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { InvalidArgumentError } from '../../core/errors';

/** How to start the inference worker: a file, or (from TypeScript sources) a small bootstrap. */
export interface WorkerLaunch {
  /** File URL of the worker, or bootstrap source when `eval` is true. */
  target: URL | string;
  eval: boolean;
  /** The worker file itself, for messages. */
  file: string;
}

/**
 * URL of the module this code runs in. The CommonJS build has `__filename` (and an empty
 * `import.meta`); the ESM build and TypeScript sources have `import.meta.url`.
 */
export function currentModuleUrl(): string {
  if (typeof __filename === 'string' && __filename.length > 0) return pathToFileURL(__filename).href;
  return import.meta.url;
}

const WORKER_BASENAME = 'inference-worker';

function candidates(base: string): { url: URL; typescript: boolean }[] {
  const path = fileURLToPath(base);
  const ext = /\.(c|m)?(t|j)s$/.exec(path)?.[0] ?? '.js';
  const typescript = ext.includes('t');
  // From sources the worker is TypeScript; in the build it has the extension of this module's format.
  const exts = [...new Set(typescript ? ['.ts', '.mts'] : ext === '.cjs' ? ['.cjs', '.js'] : [ext, '.js', '.mjs'])];
  // This code sits next to the worker in `dist/integrations/onnx/`; if a bundler moved it into a
  // shared chunk at the root of `dist/`, the worker is under `integrations/onnx/` from there.
  const dirs = ['./', './integrations/onnx/'];
  return dirs.flatMap((dir) => exts.map((e) => ({ url: new URL(`${dir}${WORKER_BASENAME}${e}`, base), typescript })));
}

/**
 * Finds the inference worker relative to `base` (this module unless told), and decides how to
 * start it. From TypeScript sources (vitest, tsx) the worker is a `.ts` file: it is started
 * through a bootstrap that registers tsx's require hook inside the worker thread (tsx's
 * `--import` loader does not register in worker threads on Node.js 20).
 */
export function resolveInferenceWorker(explicit?: string | URL, base: string = currentModuleUrl()): WorkerLaunch {
  if (explicit !== undefined) {
    const url = explicit instanceof URL ? explicit : explicit.startsWith('file:') ? new URL(explicit) : pathToFileURL(explicit);
    const file = fileURLToPath(url);
    if (!existsSync(file)) throw new InvalidArgumentError(`workerUrl: no inference worker at ${file}`);
    return /\.(c|m)?ts$/.test(file) ? typescriptLaunch(file, base) : { target: url, eval: false, file };
  }
  const found = candidates(base).find((c) => existsSync(fileURLToPath(c.url)));
  if (!found) {
    throw new InvalidArgumentError(
      `could not find the upkeep/onnx inference worker next to ${fileURLToPath(base)}; if upkeep was bundled, copy ` +
        `dist/integrations/onnx/${WORKER_BASENAME}.js beside the bundle and pass its path as the workerUrl option`,
    );
  }
  const file = fileURLToPath(found.url);
  return found.typescript ? typescriptLaunch(file, base) : { target: found.url, eval: false, file };
}

function typescriptLaunch(file: string, base: string): WorkerLaunch {
  let register: string;
  try {
    register = createRequire(base).resolve('tsx/cjs/api');
  } catch (error) {
    throw new InvalidArgumentError(`running the inference worker from TypeScript sources needs tsx (npm install -D tsx)`, { cause: error });
  }
  const source = `require(${JSON.stringify(register)}).register();\nrequire(${JSON.stringify(file)});\n`;
  return { target: source, eval: true, file };
}

// Flags about how the main script was given (`node --input-type=module -e CODE`). A worker
// inherits `process.execArgv`, and Node refuses `--input-type` for a worker started from a file
// (ERR_INPUT_TYPE_NOT_ALLOWED), so the inference worker never started from such a script.
const ENTRY_FLAGS = new Set(['--input-type', '-e', '--eval', '-p', '--print']);

/**
 * `execArgv` for the inference worker: the process's own flags (loaders, memory limits, ...)
 * without those that only describe the main entry point (`--input-type`, `-e`/`--eval`,
 * `-p`/`--print` and their values), which make a worker thread fail to start.
 */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    const name = arg.startsWith('--') ? arg.split('=')[0]! : arg;
    if (!ENTRY_FLAGS.has(name)) {
      out.push(arg);
      continue;
    }
    if (!arg.includes('=') && i + 1 < execArgv.length) i++; // its value (the code, or `module`)
  }
  return out;
}

import { MissingPeerDependencyError } from '../../core/errors';

/** Package `upkeep/onnx` loads ONNX Runtime from unless told otherwise. */
export const DEFAULT_RUNTIME_MODULE = 'onnxruntime-node';

/** The part of the `onnxruntime-node` API this integration uses (no type dependency on the peer). */
export interface OrtTensor {
  readonly type: string;
  readonly data: unknown;
  readonly dims: readonly number[];
}

export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: readonly unknown[];
  readonly outputMetadata?: readonly unknown[];
  run(feeds: Record<string, OrtTensor>, fetches?: readonly string[]): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

export interface OrtModule {
  InferenceSession: { create(model: string | Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: string, data: unknown, dims: readonly number[]) => OrtTensor;
  env?: { versions?: Record<string, string> };
}

/** Imports a module by name; injectable so tests can simulate a missing package. */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

// A variable specifier keeps bundlers from inlining the optional peer.
const defaultImporter: ModuleImporter = (specifier) => import(specifier);

function isModuleNotFound(error: unknown, specifier: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const notFound = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
  // A missing dependency *of* the runtime is a broken install, not a missing peer; only the peer's own name counts.
  return notFound && typeof message === 'string' && message.includes(`'${specifier}'`);
}

/**
 * Loads ONNX Runtime lazily (never at import time of `upkeep` or `upkeep/onnx`). Throws
 * `MissingPeerDependencyError` (`MISSING_PEER_DEPENDENCY`) with the command to run when the
 * package is not installed.
 */
export async function loadOnnxRuntime(
  specifier: string = DEFAULT_RUNTIME_MODULE,
  importer: ModuleImporter = defaultImporter,
): Promise<OrtModule> {
  let loaded: unknown;
  try {
    loaded = await importer(specifier);
  } catch (error) {
    if (isModuleNotFound(error, specifier)) {
      throw new MissingPeerDependencyError(
        `upkeep/onnx needs the optional peer dependency ${specifier}, which is not installed: npm install ${specifier}`,
        { cause: error },
      );
    }
    throw error;
  }
  // ESM import of a CommonJS package: the API sits on `default`, named exports may or may not be there.
  const candidates = [loaded, (loaded as { default?: unknown } | undefined)?.default];
  const ort = candidates.find(
    (c): c is OrtModule => typeof (c as OrtModule | undefined)?.InferenceSession?.create === 'function' && typeof (c as OrtModule).Tensor === 'function',
  );
  if (!ort) {
    throw new MissingPeerDependencyError(
      `${specifier} was loaded but does not look like ONNX Runtime for Node.js (no InferenceSession/Tensor): npm install onnxruntime-node`,
    );
  }
  return ort;
}

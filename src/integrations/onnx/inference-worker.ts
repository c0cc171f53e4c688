/**
 * Entry of the worker thread that owns one ONNX Runtime session. The session is created here,
 * so `session.run` (synchronous native work in onnxruntime-node) blocks this thread and never
 * the host's event loop. Runs are handled one after another in arrival order.
 *
 * Built by tsup as its own entry (`dist/integrations/onnx/inference-worker.{js,cjs}`).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadOnnxRuntime, type OrtSession } from './load-onnxruntime';
import { serializeError } from './onnx-errors';
import { openOrtSession } from './ort-session';
import { fromOrtOutputs, toOrtFeeds, transferableBuffers } from './tensors';
import type { FromWorker, InferenceWorkerData, ToWorker } from './worker-protocol';

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('inference-worker must run in a worker thread');
  const post = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
  const { spec, runtimeModule } = workerData as InferenceWorkerData;

  let session: OrtSession;
  let ort: Awaited<ReturnType<typeof loadOnnxRuntime>>;
  try {
    ort = await loadOnnxRuntime(runtimeModule);
    const opened = await openOrtSession(ort, spec);
    session = opened.session;
    post({
      type: 'ready',
      executionProvider: opened.executionProvider,
      fallbackReason: opened.fallbackReason,
      inputNames: opened.inputNames,
      outputNames: opened.outputNames,
      inputMetadata: opened.inputMetadata,
      outputMetadata: opened.outputMetadata,
    });
  } catch (error) {
    post({ type: 'open-failed', error: serializeError(error) });
    port.close();
    return;
  }

  // Messages are chained so runs never overlap and `close` comes after every run sent before it.
  let chain = Promise.resolve();
  port.on('message', (message: ToWorker) => {
    chain = chain.then(async () => {
      if (message.type === 'run') {
        const started = performance.now();
        try {
          const outputs = fromOrtOutputs(await session.run(toOrtFeeds(ort, message.feeds), message.fetches));
          const result: FromWorker = { type: 'result', id: message.id, outputs, durationMs: performance.now() - started };
          try {
            post(result, transferableBuffers(outputs));
          } catch {
            post(result); // a buffer the runtime owns cannot be moved; copy it instead
          }
        } catch (error) {
          post({ type: 'run-failed', id: message.id, error: serializeError(error) });
        }
      } else if (message.type === 'close') {
        try {
          await session.release();
        } catch {
          // Shutting down either way; the thread's exit frees what release could not.
        } finally {
          post({ type: 'closed' });
          port.close();
        }
      }
    });
    // Keep the chain alive whatever one message did.
    chain = chain.catch(() => undefined);
  });
}

void main();

import type { IncomingMessage, ServerResponse } from 'node:http';
import { PayloadTooLargeError } from '../core/errors';
import type { AdminHandler, AdminRequest, AdminResponse } from './admin-types';
import { errorResponse } from './error-mapping';

/**
 * Reads a Node request body up to `maxBytes` (the stream is drained without keeping more,
 * so an oversized body costs no memory): a Buffer, or undefined when there is none.
 */
export async function readNodeBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length']);
  if (!req.headers['transfer-encoding'] && !(declared > 0)) return undefined;
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume(); // drain, so the connection can answer
    throw new PayloadTooLargeError(`The body is larger than ${maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) tooLarge = true;
    if (!tooLarge) chunks.push(chunk as Buffer);
  }
  if (tooLarge) throw new PayloadTooLargeError(`The body is larger than ${maxBytes} bytes`);
  return Buffer.concat(chunks);
}

/** Writes an admin response on a Node response: JSON, text/bytes, or an event stream ended when the client goes away. */
export async function writeNodeResponse(res: ServerResponse, response: AdminResponse, onClose: (fn: () => void) => void): Promise<void> {
  if (response.stream) {
    res.writeHead(response.status, response.headers);
    res.flushHeaders?.();
    const iterator = response.stream[Symbol.asyncIterator]();
    let closed = false;
    onClose(() => {
      closed = true;
      void iterator.return?.();
    });
    try {
      for (;;) {
        const { value, done } = await iterator.next();
        if (done || closed) break;
        if (!res.write(value)) {
          // A slow client: wait for drain (or close), then drop both listeners, so a long stream gathers none.
          await new Promise<void>((resolve) => {
            const done = () => {
              res.off('drain', done).off('close', done);
              resolve();
            };
            res.once('drain', done).once('close', done);
          });
        }
      }
    } finally {
      if (!closed) await iterator.return?.();
      res.end();
    }
    return;
  }
  const headers = { ...response.headers };
  let payload: string | Buffer | undefined;
  const body = response.body;
  if (body === undefined) payload = undefined;
  else if (Buffer.isBuffer(body) || body instanceof Uint8Array) payload = Buffer.from(body as Uint8Array);
  else if (typeof body === 'string' && !/json/.test(headers['content-type'] ?? '')) payload = body;
  else {
    payload = JSON.stringify(body);
    headers['content-type'] ??= 'application/json; charset=utf-8';
  }
  if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));
  res.writeHead(response.status, headers);
  res.end(payload);
}

/**
 * Serves one Node request with the admin handler: reads the raw body (unless a body parser
 * already did: then its value is used), builds the {@link AdminRequest}, writes the answer.
 */
export async function serveNode(
  handler: AdminHandler,
  req: IncomingMessage & { body?: unknown },
  res: ServerResponse,
  opts: { path: string; mountPath: string; query: Record<string, string | string[] | undefined>; maxBodyBytes: number; raw?: unknown },
): Promise<void> {
  const ac = new AbortController();
  const closers: Array<() => void> = [];
  res.once('close', () => {
    ac.abort();
    for (const fn of closers) fn();
  });
  let body: unknown;
  try {
    body = req.body !== undefined && (req.readableEnded || req.complete) ? req.body : await readNodeBody(req, opts.maxBodyBytes);
  } catch (error) {
    const requestId = typeof req.headers['x-request-id'] === 'string' && /^[\w.:-]{1,100}$/.test(req.headers['x-request-id']) ? req.headers['x-request-id'] : 'unassigned';
    await writeNodeResponse(res, errorResponse(error, requestId).response, () => undefined);
    return;
  }
  const request: AdminRequest = {
    method: req.method ?? 'GET',
    path: opts.path,
    query: opts.query,
    headers: req.headers as Record<string, string | string[] | undefined>,
    body,
    mountPath: opts.mountPath,
    signal: ac.signal,
    raw: opts.raw ?? req,
  };
  const response = await handler(request);
  await writeNodeResponse(res, response, (fn) => (ac.signal.aborted ? fn() : closers.push(fn)));
}

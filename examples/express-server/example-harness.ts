/**
 * Drives one server example over HTTP, as its test: the server and a runner are separate
 * processes (RUNNER=off in the server), on a fresh SQLite file (or the empty database at
 * UPKEEP_EXAMPLE_DATABASE_URL).
 * Shared by the Express, Fastify and NestJS example tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

function start(script: string, env: Record<string, string>, ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} was not ready within 90 s: ${out}`)), 90_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const match = ready.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code} before it was ready: ${out}`));
    });
  });
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function until<T>(fn: () => Promise<T | null | undefined | false>, what: string, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function exampleSuite(name: string, serverScript: string): void {
  describe(`${name} example, as separate processes over HTTP`, () => {
    const dir = mkdtempSync(join(tmpdir(), `upkeep-${name}-`));
    // UPKEEP_EXAMPLE_DATABASE_URL runs the example on that database (an empty one) instead of SQLite.
    const url = process.env.UPKEEP_EXAMPLE_DATABASE_URL;
    const env: Record<string, string> = { PORT: '0', SQLITE_PATH: join(dir, 'example.db'), RUNNER: 'off', UPKEEP_DEMO_AUTH: 'x-role', ...(url ? { DATABASE_URL: url } : {}) };
    let server: ChildProcess | undefined;
    let runner: ChildProcess | undefined;
    let base = '';
    const api = async (method: string, path: string, body?: unknown, role = 'admin') => {
      const res = await fetch(`${base}${path}`, { method, headers: { 'x-role': role, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const statusOf = async (id: string) => (await api('GET', `/tasks/${id}`, undefined, 'viewer')).body.status as string;

    beforeAll(async () => {
      const s = await start(serverScript, env, /listening on (http:\/\/\S+)/);
      server = s.child;
      base = s.match[1]!;
      runner = (await start('examples/express-server/runner.ts', env, /runner ready/)).child;
    });
    afterAll(async () => {
      await Promise.all([stop(server), stop(runner)]);
      rmSync(dir, { recursive: true, force: true });
    });

    it('refuses callers without credentials', async () => {
      const res = await fetch(`${base}/tasks`);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { code: string }).code).toBe('UNAUTHORIZED');
    });

    it('creates and lists tasks; starts an INACTIVE task through POST /tasks/{id}/start; reads health and metrics with the seed keys', async () => {
      const created = await api('POST', '/tasks', { type: 'demo-cleanup', props: { table: 'sessions', apiToken: 'tok' }, options: { inactive: true } });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ status: 'INACTIVE', props: { table: 'sessions', apiToken: '[redacted]' } });
      const id = created.body.id as string;
      const list = await api('GET', '/tasks?status=INACTIVE', undefined, 'viewer');
      expect((list.body.items as Array<{ id: string }>).map((t) => t.id)).toContain(id);
      expect((await api('POST', `/tasks/${id}/start`, undefined, 'operator')).status).toBe(200);
      await until(async () => (await statusOf(id)) === 'COMPLETED', 'the started task to complete in the runner process');
      const health = await api('GET', `/tasks/${id}/health`, undefined, 'viewer');
      expect(Object.keys(health.body)).toEqual(expect.arrayContaining(['status', 'memory_usage_mb', 'processing_time_s', 'device', 'warnings']));
      expect(health.body.status).toBe('COMPLETED');
      const metrics = await api('GET', '/tasks/metrics', undefined, 'viewer');
      expect(Object.keys(metrics.body)).toEqual(expect.arrayContaining(['active_tasks', 'queued_tasks', 'memory_by_device', 'pool_utilization', 'average_wait_time']));
    });

    it('an SSE client receives a progress event published by the runner in another process', async () => {
      const ac = new AbortController();
      const stream = await fetch(`${base}/events`, { headers: { 'x-role': 'viewer' }, signal: ac.signal });
      expect(stream.headers.get('content-type')).toMatch(/text\/event-stream/);
      const created = await api('POST', '/tasks', { type: 'demo-report', props: { steps: 20, stepMs: 100 } });
      const id = created.body.id as string;
      const reader = stream.body!.getReader();
      let text = '';
      const deadline = Date.now() + 30_000;
      while (!new RegExp(`event: progress\\ndata: \\{"taskId":"${id}"`).test(text)) {
        if (Date.now() > deadline) throw new Error(`no progress event for ${id}: ${text.slice(-2000)}`);
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        text += new TextDecoder().decode(value);
      }
      ac.abort();
    });

    it('cancels a running task (the runner in the other process stops it)', async () => {
      const created = await api('POST', '/tasks', { type: 'demo-report', props: { steps: 1000, stepMs: 100 } });
      const id = created.body.id as string;
      await until(async () => (await statusOf(id)) === 'WORKING', 'the task to start');
      const cancel = await api('POST', `/tasks/${id}/cancel`, undefined, 'operator');
      expect(cancel.status).toBe(200);
      await until(async () => (await statusOf(id)) === 'CANCELLED', 'the running task to end CANCELLED');
      const trail = await api('GET', `/tasks/${id}/events`, undefined, 'viewer');
      expect((trail.body.items as Array<{ type: string }>).map((e) => e.type)).toEqual(expect.arrayContaining(['audit', 'started']));
    });
  });
}

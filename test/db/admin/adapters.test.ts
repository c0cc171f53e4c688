import 'reflect-metadata';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import express from 'express';
import Fastify from 'fastify';
import { IsString } from 'class-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MaintenanceTaskProcessor, Processor, type Upkeep } from '../../../src';
import { createUpkeepRouter } from '../../../src/integrations/express';
import { upkeepFastifyPlugin } from '../../../src/integrations/fastify';
import { UPKEEP, UpkeepModule } from '../../../src/integrations/nestjs';
import { openTestDataSource, TEST_DB, waitFor } from '../../helpers/db';
import { AdminSlowProcessor, AdminSumProcessor, headerAuthorize, makeUpkeep } from './admin-fixtures';

/** A service Nest injects into a processor. */
@Injectable()
class GreetingService {
  greet(name: string) {
    return `hello ${name}`;
  }
}

@Processor('nest-greet')
class NestGreetProcessor extends MaintenanceTaskProcessor<{ greeting: string }> {
  @IsString()
  name!: string;

  constructor(@Inject(GreetingService) private readonly greeter: GreetingService) {
    super();
  }

  process() {
    return { greeting: this.greeter.greet(this.name) };
  }
}

/** A Nest guard: requests carrying `x-blocked: 1` never reach the admin API. */
@Injectable()
class BlockGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest().headers['x-blocked'] !== '1';
  }
}

interface Served {
  base: string;
  upkeep: Upkeep;
  close(): Promise<void>;
}

type Framework = 'express' | 'fastify' | 'nestjs';

async function serve(framework: Framework, dataSource: Awaited<ReturnType<typeof openTestDataSource>>['dataSource']): Promise<Served> {
  const opts = { authorize: headerAuthorize, maxBodyBytes: 64 * 1024, ssePollIntervalMs: 50 };
  if (framework === 'express') {
    const upkeep = makeUpkeep(dataSource);
    const app = express();
    app.use('/admin', createUpkeepRouter(upkeep, opts));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/admin`, upkeep, close: async () => (server.closeAllConnections(), await new Promise((r) => server.close(r)), await upkeep.close()) };
  }
  if (framework === 'fastify') {
    const upkeep = makeUpkeep(dataSource);
    const app = Fastify();
    await app.register(upkeepFastifyPlugin, { upkeep, ...opts, prefix: '/admin' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/admin`, upkeep, close: async () => (app.server.closeAllConnections(), await app.close(), await upkeep.close()) };
  }
  const { Module } = await import('@nestjs/common');
  @Module({
    imports: [UpkeepModule.forRoot({ dataSource, processors: [AdminSumProcessor, AdminSlowProcessor], devices: [{ id: 'cpu', kind: 'cpu', totalMemoryMb: 16_000, freeMemoryMb: 16_000, healthy: true } as never], runner: { pollIntervalMs: 100 }, admin: { path: 'admin', ...opts, guards: [BlockGuard] } })],
    providers: [GreetingService, NestGreetProcessor],
  })
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false, bodyParser: false });
  app.setGlobalPrefix('api');
  await app.listen(0, '127.0.0.1');
  const upkeep = app.get<Upkeep>(UPKEEP);
  return { base: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/api/admin`, upkeep, close: () => app.close() };
}

/** A raw request, so `..` reaches the server unnormalised. */
function rawGet(base: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path: `${url.pathname}${path}`, headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d)).on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject).end();
  });
}

describe.each<Framework>(['express', 'fastify', 'nestjs'])(`%s adapter over HTTP (${TEST_DB})`, (framework) => {
  let env: Awaited<ReturnType<typeof openTestDataSource>>;
  let served: Served;
  const admin = { 'x-role': 'admin', 'content-type': 'application/json' };
  const call = async (method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}) => {
    const res = await fetch(`${served.base}${path}`, { method, headers: init.headers ?? admin, ...(init.body !== undefined ? { body: init.body } : {}) });
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text);
    } catch {
      json = { text };
    }
    return { status: res.status, body: json, headers: res.headers };
  };
  const rowCount = async () => Number((await env.dataSource.query('SELECT COUNT(*) AS n FROM maintenance_tasks'))[0].n);

  beforeAll(async () => {
    env = await openTestDataSource();
    served = await serve(framework, env.dataSource);
  });
  afterAll(async () => {
    await served?.close();
    await env?.close();
  });

  it('creates, lists, starts an INACTIVE task, and answers the seed routes', async () => {
    const created = await call('POST', '/tasks', { body: JSON.stringify({ type: 'admin-sum', props: { numbers: [1, 2, 3] }, options: { inactive: true } }) });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const list = await call('GET', `/tasks?status=INACTIVE&limit=10`, { headers: { 'x-role': 'viewer' } });
    expect((list.body.items as Array<{ id: string }>).map((i) => i.id)).toContain(id);
    const started = await call('POST', `/tasks/${id}/start`);
    expect(started.status).toBe(200);
    if (framework !== 'nestjs') await served.upkeep.runDue();
    await waitFor(async () => (await served.upkeep.getTask(id))!.status === 'COMPLETED');
    const health = await call('GET', `/tasks/${id}/health`, { headers: { 'x-role': 'viewer' } });
    expect(health.body).toMatchObject({ status: 'COMPLETED', device: expect.anything(), warnings: expect.any(Array) });
    const metrics = await call('GET', '/tasks/metrics', { headers: { 'x-role': 'viewer' } });
    expect(Object.keys(metrics.body)).toEqual(expect.arrayContaining(['active_tasks', 'queued_tasks', 'memory_by_device', 'pool_utilization', 'average_wait_time']));
    const prom = await fetch(`${served.base}/tasks/metrics`, { headers: { 'x-role': 'viewer', accept: 'text/plain' } });
    expect(prom.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await prom.text()).toContain('upkeep_tasks{status="COMPLETED"} 1');
  });

  it('answers bad requests with the right status and code, and changes no row', async () => {
    const before = await rowCount();
    const task = await served.upkeep.createTask(AdminSumProcessor.create({ numbers: [9] }));
    const n = await rowCount();
    expect(n).toBe(before + 1);
    const cases: Array<[string, Promise<{ status: number; body: Record<string, unknown> }>, number, string]> = [
      ['no credentials', call('GET', '/tasks', { headers: {} }), 401, 'UNAUTHORIZED'],
      ['non-admin (default policy)', call('GET', '/tasks', { headers: { 'x-role': 'nobody' } }), 403, 'FORBIDDEN'],
      ['viewer cancelling', call('POST', `/tasks/${task.id}/cancel`, { headers: { 'x-role': 'viewer' } }), 403, 'FORBIDDEN'],
      ['malformed JSON', call('POST', '/tasks', { body: '{"type": ' }), 400, 'INVALID_ARGUMENT'],
      ['wrong types', call('POST', '/tasks', { body: JSON.stringify({ type: 'admin-sum', props: { numbers: 'many' } }) }), 400, 'PROCESSOR_VALIDATION'],
      ['unknown fields', call('POST', '/tasks', { body: JSON.stringify({ type: 'admin-sum', props: { numbers: [] }, extra: 1 }) }), 400, 'INVALID_ARGUMENT'],
      ['oversized body', call('POST', '/tasks', { body: JSON.stringify({ type: 'admin-sum', props: { numbers: new Array(40_000).fill(1) } }) }), 413, 'PAYLOAD_TOO_LARGE'],
      ['wrong content type', call('POST', '/tasks', { headers: { 'x-role': 'admin', 'content-type': 'text/plain' }, body: 'hi' }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['unknown id', call('POST', '/tasks/6f1c1c1c-0000-4000-8000-000000000000/cancel'), 404, 'TASK_NOT_FOUND'],
      ['unknown route', call('GET', '/nothing-here', { headers: { 'x-role': 'viewer' } }), 404, 'ROUTE_NOT_FOUND'],
      ['illegal transition', call('POST', `/tasks/${task.id}/resume`), 409, 'ILLEGAL_TRANSITION'],
      ['SQL in a filter', call('GET', `/tasks?status=${encodeURIComponent("PENDING') OR ('1'='1")}`, { headers: { 'x-role': 'viewer' } }), 400, 'INVALID_ARGUMENT'],
      ['huge limit', call('GET', '/tasks?limit=999999999', { headers: { 'x-role': 'viewer' } }), 400, 'INVALID_ARGUMENT'],
      ['a method no route has', call('PUT', `/tasks/${task.id}`, { headers: { 'x-role': 'admin' } }), 404, 'ROUTE_NOT_FOUND'],
      ['DELETE', call('DELETE', `/tasks/${task.id}`, { headers: { 'x-role': 'admin' } }), 404, 'ROUTE_NOT_FOUND'],
      ['a tampered cursor', call('GET', `/tasks?cursor=${Buffer.from(JSON.stringify(['-271821-04-20T00:00:00.000Z', 'a'])).toString('base64url')}`, { headers: { 'x-role': 'viewer' } }), 400, 'INVALID_ARGUMENT'],
    ];
    for (const [what, pending, status, code] of cases) {
      const res = await pending;
      expect({ what, status: res.status, code: res.body.code }).toEqual({ what, status, code });
      expect(JSON.stringify(res.body)).not.toMatch(/ at |node_modules|SELECT |\/work\//);
    }
    const dots = await rawGet(served.base, '/tasks/../../../etc/passwd', { 'x-role': 'viewer' });
    expect(dots.status).toBe(400);
    expect(JSON.parse(dots.body).code).toBe('INVALID_ARGUMENT');
    expect(await rowCount()).toBe(n);
    expect((await served.upkeep.getTask(task.id))!.status).not.toBe('CANCELLED');
  });

  it('streams events (Last-Event-ID resumes) and ends the stream when the client disconnects', async () => {
    const ac = new AbortController();
    const res = await fetch(`${served.base}/events?after=0`, { headers: { 'x-role': 'viewer' }, signal: ac.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    while (!/event: audit/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    const firstId = Number(/id: (\d+)/.exec(text)![1]);
    ac.abort();
    const resumed = new AbortController();
    const again = await fetch(`${served.base}/events`, { headers: { 'x-role': 'viewer', 'last-event-id': String(firstId) }, signal: resumed.signal });
    const r2 = again.body!.getReader();
    let t2 = '';
    while (!/id: \d+/.test(t2)) t2 += new TextDecoder().decode((await r2.read()).value);
    expect(Number(/id: (\d+)/.exec(t2)![1])).toBeGreaterThan(firstId);
    resumed.abort();
  });

  it.runIf(framework === 'nestjs')('Nest: guards run, processors come from providers with constructor injection', async () => {
    const blocked = await call('GET', '/tasks', { headers: { 'x-role': 'viewer', 'x-blocked': '1' } });
    expect(blocked.status).toBe(403);
    const created = await call('POST', '/tasks', { body: JSON.stringify({ type: 'nest-greet', props: { name: 'nest' } }) });
    expect(created.status).toBe(201);
    const done = await waitFor(async () => {
      const t = await served.upkeep.getTask(created.body.id as string);
      return t!.status === 'COMPLETED' || t!.status === 'ERROR' ? t : null;
    });
    expect(done.lastError).toBeNull();
    expect(done.info).toEqual({ greeting: 'hello nest' });
  });
});

import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { describe, expect, it } from 'vitest';
import type { Upkeep } from '../../../src';
import { UPKEEP, UpkeepModule } from '../../../src/integrations/nestjs';
import { openTestDataSource, TEST_DB } from '../../helpers/db';
import { AdminSumProcessor, headerAuthorize } from './admin-fixtures';

/** Stands in for a host's config service. */
@Injectable()
class AppConfig {
  readonly runner = false as const;
}

@Module({ providers: [AppConfig], exports: [AppConfig] })
class ConfigModule {}

describe(`UpkeepModule.forRootAsync (${TEST_DB})`, () => {
  it('builds the options from injected providers, serves the admin routes, closes with the app', async () => {
    const env = await openTestDataSource();
    try {
      @Module({
        imports: [
          UpkeepModule.forRootAsync({
            imports: [ConfigModule],
            inject: [AppConfig],
            useFactory: (config: AppConfig) => ({ dataSource: env.dataSource, runner: config.runner, admin: { path: 'ops', authorize: headerAuthorize } }),
            processors: [AdminSumProcessor],
            admin: { path: 'ops' },
          }),
        ],
      })
      class AppModule {}
      const app = await NestFactory.create(AppModule, { logger: false, bodyParser: false });
      await app.listen(0, '127.0.0.1');
      const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/ops`;
      const upkeep = app.get<Upkeep>(UPKEEP);
      expect(upkeep.registry.get('admin-sum')).toBeDefined();
      expect((await fetch(`${base}/tasks`)).status).toBe(401);
      const res = await fetch(`${base}/tasks`, { method: 'POST', headers: { 'x-role': 'admin', 'content-type': 'application/json' }, body: JSON.stringify({ type: 'admin-sum', props: { numbers: [1] } }) });
      expect(res.status).toBe(201);
      const runners = (await (await fetch(`${base}/runners`, { headers: { 'x-role': 'viewer' } })).json()) as { items: unknown[] };
      expect(runners.items).toEqual([]); // runner: false from the factory
      await app.close();
    } finally {
      await env.close();
    }
  });
});

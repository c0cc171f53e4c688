/**
 * class-validator, class-transformer, reflect-metadata and typeorm are peer dependencies:
 * the host installs them, and its decorators must land in the metadata the library reads.
 * This test builds the package with the project's tsup config, installs it into a
 * throw-away host project next to symlinks of the peers, and runs plain Node (ESM and CJS)
 * there with processors decorated through the host's own class-validator/class-transformer.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build, type Options } from 'tsup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import tsupConfig from '../../tsup.config';

const run = promisify(execFile);
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
};

/** Optional peers (and frameworks) the root entry must never load. */
const FORBIDDEN = ['onnxruntime-node', 'express', 'fastify', '@nestjs/common', '@nestjs/core'];

/** What the child reports. */
interface ChildReport {
  format: 'esm' | 'cjs';
  bad: { name: string; code: string; isUpkeepError: boolean; instanceOfExport: boolean; properties: string[]; message: string } | 'accepted';
  good: { instanceOfClass: boolean; userIds: string[]; batch: number; windowFromIsDate: boolean; windowFromIso: string; nestedIsInstance: boolean; result: unknown };
  forbiddenLoaded: string[];
  forbiddenInRequireCache: string[];
  integrationFilesLoaded: string[];
  /** Every URL the ESM loader resolved (ESM run only), before the control. */
  resolvedUrls: string[] | null;
  controlDetected: boolean;
}

/**
 * The host's program, in plain JavaScript: decorators are applied by hand the way
 * TypeScript's legacy decorators are, with the host's own class-validator and class-transformer.
 */
function hostProgram(format: 'esm' | 'cjs'): string {
  const imports =
    format === 'esm'
      ? `import 'reflect-metadata';
import { createRequire } from 'node:module';
import { ArrayMaxSize, IsArray, IsDate, IsInt, IsString, Min, ValidateNested } from 'class-validator';
import { Type } from 'class-transformer';
import * as upkeep from 'upkeep';
const require = createRequire(import.meta.url);`
      : `require('reflect-metadata');
const { ArrayMaxSize, IsArray, IsDate, IsInt, IsString, Min, ValidateNested } = require('class-validator');
const { Type } = require('class-transformer');
const upkeep = require('upkeep');`;
  return `${imports}
const { MaintenanceTaskProcessor, Processor, ProcessorValidationError, isUpkeepError } = upkeep;
const decorate = (decorators, target, key) => { for (const d of [...decorators].reverse()) d(target, key); };

class Window {}
decorate([Type(() => Date), IsDate()], Window.prototype, 'from');

class HostProcessor extends MaintenanceTaskProcessor {
  batch = 10;
  process() { return { users: this.userIds.length }; }
}
decorate([IsArray(), ArrayMaxSize(2), IsString({ each: true })], HostProcessor.prototype, 'userIds');
decorate([IsInt(), Min(1)], HostProcessor.prototype, 'batch');
decorate([ValidateNested(), Type(() => Window)], HostProcessor.prototype, 'window');
Processor('host-processor')(HostProcessor);

const report = { format: '${format}' };
try {
  HostProcessor.create({ userIds: [1, 'a', 'b'], batch: 0, window: { from: 'not a date' } });
  report.bad = 'accepted';
} catch (e) {
  report.bad = {
    name: e.name, code: e.code, isUpkeepError: isUpkeepError(e), instanceOfExport: e instanceof ProcessorValidationError,
    properties: (e.problems || []).map((p) => p.property).sort(), message: e.message,
  };
}
const good = HostProcessor.create({ userIds: ['a', 'b'], window: { from: '2026-03-04T05:06:07.089Z' } });
report.good = {
  instanceOfClass: good instanceof HostProcessor, userIds: good.userIds, batch: good.batch,
  windowFromIsDate: good.window.from instanceof Date,
  windowFromIso: good.window.from instanceof Date ? good.window.from.toISOString() : String(good.window.from),
  nestedIsInstance: good.window instanceof Window, result: good.process(),
};
report.forbiddenLoaded = [...(globalThis.__upkeepForbiddenLoaded || [])];
report.forbiddenInRequireCache = Object.keys(require.cache).filter((p) => /node_modules[\\\\/](onnxruntime-node|express|fastify|@nestjs)[\\\\/]/.test(p));
report.integrationFilesLoaded = Object.keys(require.cache).filter((p) => /[\\\\/]upkeep[\\\\/]dist[\\\\/]integrations[\\\\/]/.test(p));
// ESM modules are not in require.cache: the resolve hook (ESM run only) logged every URL resolved.
report.resolvedUrls = process.env.UPKEEP_RESOLVE_LOG ? require('node:fs').readFileSync(process.env.UPKEEP_RESOLVE_LOG, 'utf8').split('\\n').filter(Boolean) : null;
// Positive control: loading one of the fakes is seen, so an empty list above means something.
require('express');
report.controlDetected = (globalThis.__upkeepForbiddenLoaded || []).includes('express');
console.log('REPORT ' + JSON.stringify(report));
`;
}

/** Makes a host project whose node_modules holds the built package, the peers, and recording fakes. */
function makeHost(root: string, dist: string, options: { duplicateClassTransformer?: boolean } = {}): string {
  const host = mkdtempSync(join(root, 'host-'));
  const modules = join(host, 'node_modules');
  const upkeepDir = join(modules, 'upkeep');
  mkdirSync(upkeepDir, { recursive: true });
  writeFileSync(join(host, 'package.json'), JSON.stringify({ name: 'host', private: true }));
  writeFileSync(join(upkeepDir, 'package.json'), readFileSync(join(repo, 'package.json')));
  cpSync(dist, join(upkeepDir, 'dist'), { recursive: true });
  // Peers and dependencies as the host's package manager would install them (one copy, hoisted).
  const names = [...Object.keys(pkg.peerDependencies ?? {}), ...Object.keys(pkg.dependencies ?? {})].filter(
    (name) => !FORBIDDEN.includes(name) && !pkg.peerDependenciesMeta?.[name]?.optional,
  );
  for (const name of names) {
    const target = join(repo, 'node_modules', name);
    if (!existsSync(target)) throw new Error(`${name} is not installed in the repository; cannot build the host`);
    mkdirSync(dirname(join(modules, name)), { recursive: true });
    symlinkSync(target, join(modules, name), 'dir');
  }
  // Fakes of the optional peers that record being loaded (by import or require).
  for (const name of FORBIDDEN) {
    const dir = join(modules, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '99.0.0', main: 'index.js' }));
    writeFileSync(join(dir, 'index.js'), `(globalThis.__upkeepForbiddenLoaded ||= []).push(${JSON.stringify(name)});\nmodule.exports = {};\n`);
  }
  if (options.duplicateClassTransformer) {
    // What a bundled or duplicated peer looks like: the library gets its own copy.
    cpSync(join(repo, 'node_modules', 'class-transformer'), join(upkeepDir, 'node_modules', 'class-transformer'), { recursive: true });
  }
  // A resolve hook for the ESM run that appends every resolved URL to a log file.
  writeFileSync(
    join(host, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
let logFile;
export async function initialize(data) { logFile = data.logFile; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(logFile, result.url + '\\n');
  return result;
}
`,
  );
  writeFileSync(
    join(host, 'register-hooks.mjs'),
    `import { register } from 'node:module';
register('./hooks.mjs', import.meta.url, { data: { logFile: process.env.UPKEEP_RESOLVE_LOG } });
`,
  );
  writeFileSync(join(host, 'main.mjs'), hostProgram('esm'));
  writeFileSync(join(host, 'main.cjs'), hostProgram('cjs'));
  return host;
}

async function runHost(host: string, file: 'main.mjs' | 'main.cjs'): Promise<ChildReport> {
  const esm = file === 'main.mjs';
  const log = join(host, `resolved-${Date.now()}.log`);
  writeFileSync(log, '');
  const args = esm ? ['--import', './register-hooks.mjs', file] : [file];
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '' };
  if (esm) env.UPKEEP_RESOLVE_LOG = log;
  else delete env.UPKEEP_RESOLVE_LOG;
  const { stdout, stderr } = await run(process.execPath, args, { cwd: host, env, timeout: 60_000 });
  const line = stdout.split('\n').find((l) => l.startsWith('REPORT '));
  if (!line) throw new Error(`the host program printed no report.\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  return JSON.parse(line.slice('REPORT '.length)) as ChildReport;
}

describe('the built package with the host’s own peers (plain Node, ESM and CJS)', () => {
  let root: string;
  let dist: string;
  let host: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'upkeep-peer-'));
    dist = join(root, 'dist');
    const config = tsupConfig as Options;
    // Every entry of the project's build whose source exists (integrations may still be in progress).
    const entry = Object.fromEntries(Object.entries(config.entry as Record<string, string>).filter(([, file]) => existsSync(join(repo, file))));
    expect(entry).toHaveProperty('index');
    await build({ ...config, config: false, entry, outDir: dist, dts: false, sourcemap: false, silent: true, clean: true });
    expect(existsSync(join(dist, 'index.js'))).toBe(true);
    expect(existsSync(join(dist, 'index.cjs'))).toBe(true);
    host = makeHost(root, dist);
  });
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('the build keeps the peers external (no copy of class-validator or class-transformer inside dist)', () => {
    // With several entries the build splits shared code into chunks: look at every file of each format.
    for (const ext of ['.js', '.cjs']) {
      const files = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith(ext));
      expect(files).toContain(`index${ext}`);
      const text = files.map((f) => readFileSync(join(dist, f), 'utf8')).join('\n');
      expect(text).toMatch(/["']class-validator["']/);
      expect(text).toMatch(/["']class-transformer["']/);
      // Distinctive internals of the peers must not be bundled in.
      expect(text).not.toContain('classValidatorMetadataStorage');
      expect(text).not.toContain('TransformOperationExecutor');
    }
  });

  describe.each(['main.mjs', 'main.cjs'] as const)('%s', (file) => {
    let report: ChildReport;
    beforeAll(async () => {
      report = await runHost(host, file);
    });

    it('rejects bad props with PROCESSOR_VALIDATION naming each property decorated by the host', () => {
      expect(report.bad).not.toBe('accepted');
      const bad = report.bad as Exclude<ChildReport['bad'], 'accepted'>;
      expect(bad.code).toBe('PROCESSOR_VALIDATION');
      expect(bad.name).toBe('ProcessorValidationError');
      expect(bad.isUpkeepError).toBe(true);
      expect(bad.instanceOfExport).toBe(true);
      expect(bad.properties).toEqual(['batch', 'userIds', 'window.from']);
      expect(bad.message).toContain('host-processor');
    });

    it('accepts good props, keeps defaults, and applies the host’s @Type to nested objects and dates', () => {
      expect(report.good).toEqual({
        instanceOfClass: true,
        userIds: ['a', 'b'],
        batch: 10,
        windowFromIsDate: true,
        windowFromIso: '2026-03-04T05:06:07.089Z',
        nestedIsInstance: true,
        result: { users: 2 },
      });
    });

    it('the root entry loads none of onnxruntime-node, express, fastify, @nestjs/*, nor any integration file', () => {
      expect(report.controlDetected).toBe(true);
      // Both lists were taken before the control loaded express.
      expect(report.forbiddenLoaded).toEqual([]);
      expect(report.forbiddenInRequireCache).toEqual([]);
      expect(report.integrationFilesLoaded).toEqual([]);
      if (file === 'main.mjs') {
        const urls = report.resolvedUrls!;
        // The hook saw the package's ESM entry, so its silence about the rest means something.
        expect(urls.some((u) => /\/node_modules\/upkeep\/dist\/index\.js$/.test(u))).toBe(true);
        expect(urls.filter((u) => /\/node_modules\/(onnxruntime-node|express|fastify|@nestjs)\//.test(u) || /\/upkeep\/dist\/integrations\//.test(u))).toEqual([]);
      } else {
        expect(report.resolvedUrls).toBeNull();
      }
    });
  });

  it('control: with a second copy of class-transformer inside the package, the host’s @Type is lost (what the peer setup prevents)', async () => {
    const broken = makeHost(root, dist, { duplicateClassTransformer: true });
    const report = await runHost(broken, 'main.cjs');
    expect(report.good.windowFromIsDate).toBe(false);
    expect(report.good.nestedIsInstance).toBe(false);
    // ...and the nested date is no longer validated at all.
    expect((report.bad as Exclude<ChildReport['bad'], 'accepted'>).properties).toEqual(['batch', 'userIds']);
  });
});

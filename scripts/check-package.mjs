// Checks the built package: `npm pack` contents, and that the root entry, loaded in plain
// Node as ESM and as CJS, loads none of the optional peers. Run after `npm run build`.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const fail = (message) => {
  console.error(`check-package: FAIL: ${message}`);
  process.exit(1);
};

const [pack] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
const files = new Set(pack.files.map((f) => f.path));
const ADAPTERS = ['express', 'fastify', 'nestjs'];
const adapterFiles = ADAPTERS.flatMap((a) => ['js', 'cjs', 'd.ts', 'd.cts'].map((ext) => `dist/integrations/${a}/index.${ext}`));
for (const required of ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts', 'dist/integrations/onnx/index.js', 'dist/integrations/onnx/index.cjs', 'dist/integrations/onnx/index.d.ts', 'dist/integrations/onnx/inference-worker.js', 'dist/integrations/onnx/inference-worker.cjs', ...adapterFiles, 'package.json', 'README.md', 'CHANGELOG.md']) {
  if (!files.has(required)) fail(`npm pack is missing ${required}`);
}
for (const path of files) if (/^(src|test|examples|bench)\//.test(path)) fail(`npm pack ships ${path}`);
console.log(`check-package: npm pack has ${files.size} files (${(pack.size / 1024).toFixed(0)} KiB packed), ESM + CJS + types present`);

const OPTIONAL = ['onnxruntime-node', 'express', 'fastify', '@nestjs'];
const probe = (kind) => {
  const code =
    kind === 'esm'
      ? `import 'reflect-metadata'; import { createRequire } from 'node:module'; const m = await import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)}); if (typeof m.Upkeep !== 'function') throw new Error('no Upkeep export'); const cache = Object.keys(createRequire(import.meta.url).cache); console.log(JSON.stringify(cache));`
      : `require('reflect-metadata'); const m = require(${JSON.stringify(new URL('../dist/index.cjs', import.meta.url).pathname)}); if (typeof m.Upkeep !== 'function') throw new Error('no Upkeep export'); console.log(JSON.stringify(Object.keys(require.cache)));`;
  const out = execFileSync(process.execPath, kind === 'esm' ? ['--input-type=module', '-e', code] : ['-e', code], { encoding: 'utf8' });
  const loaded = JSON.parse(out.trim().split('\n').pop());
  const offenders = loaded.filter((p) => OPTIONAL.some((name) => p.includes(`/node_modules/${name}`)));
  if (offenders.length) fail(`the ${kind} root entry loaded optional peers: ${offenders.join(', ')}`);
  console.log(`check-package: ${kind.toUpperCase()} root entry loads (${loaded.length} CJS modules), none of ${OPTIONAL.join(', ')}`);
};
if (!existsSync(new URL('../dist/index.js', import.meta.url))) fail('dist/ is missing: run npm run build first');
probe('esm');
probe('cjs');

// Entries share chunks: an error thrown by upkeep/onnx is an instance of the root's class.
const sameClass = (kind) => {
  const root = new URL(`../dist/index.${kind === 'esm' ? 'js' : 'cjs'}`, import.meta.url);
  const onnx = new URL(`../dist/integrations/onnx/index.${kind === 'esm' ? 'js' : 'cjs'}`, import.meta.url);
  const body = `
    let thrown;
    try { onnx.createOnnxSessionFactory({ model: new Uint8Array(1), intraOpNumThreads: -1 }); } catch (e) { thrown = e; }
    if (!thrown) throw new Error('expected an error from upkeep/onnx');
    if (!(thrown instanceof root.InvalidArgumentError) || !(thrown instanceof root.UpkeepError)) throw new Error('upkeep/onnx threw a different InvalidArgumentError class: ' + thrown);
    console.log('ok');`;
  const code =
    kind === 'esm'
      ? `import 'reflect-metadata'; const root = await import(${JSON.stringify(root.href)}); const onnx = await import(${JSON.stringify(onnx.href)}); ${body}`
      : `require('reflect-metadata'); const root = require(${JSON.stringify(root.pathname)}); const onnx = require(${JSON.stringify(onnx.pathname)}); ${body}`;
  const out = execFileSync(process.execPath, kind === 'esm' ? ['--input-type=module', '-e', code] : ['-e', code], { encoding: 'utf8' });
  if (!out.includes('ok')) fail(`${kind}: ${out}`);
  console.log(`check-package: ${kind.toUpperCase()} errors from upkeep/onnx are instances of the root entry's classes`);
};
sameClass('esm');
sameClass('cjs');

// Each adapter subpath loads its own framework and none of the others' (ESM and CJS), and
// its errors are the root entry's classes.
const FRAMEWORK = { express: 'express', fastify: 'fastify', nestjs: '@nestjs' };
const adapterProbe = (adapter, kind) => {
  const entry = new URL(`../dist/integrations/${adapter}/index.${kind === 'esm' ? 'js' : 'cjs'}`, import.meta.url);
  const root = new URL(`../dist/index.${kind === 'esm' ? 'js' : 'cjs'}`, import.meta.url);
  const exportName = { express: 'createUpkeepRouter', fastify: 'upkeepFastifyPlugin', nestjs: 'UpkeepModule' }[adapter];
  const attempt = { express: 'm.createUpkeepRouter({}, {})', fastify: 'await m.upkeepFastifyPlugin({}, {})', nestjs: 'm.UpkeepModule.forRootAsync({})' }[adapter];
  const body = `
    (async () => {
      if (!m[${JSON.stringify(exportName)}]) throw new Error('no ${exportName} export');
      let thrown;
      try { ${attempt}; } catch (e) { thrown = e; }
      if (!(thrown instanceof root.InvalidArgumentError)) throw new Error('${adapter} did not throw the root InvalidArgumentError: ' + thrown);
      console.log(JSON.stringify(Object.keys(req.cache)));
    })().catch((e) => { console.error(String(e)); process.exit(1); });`;
  const code =
    kind === 'esm'
      ? `import 'reflect-metadata'; import { createRequire } from 'node:module'; const req = createRequire(import.meta.url); const root = await import(${JSON.stringify(root.href)}); const m = await import(${JSON.stringify(entry.href)}); ${body}`
      : `require('reflect-metadata'); const req = require; const root = require(${JSON.stringify(root.pathname)}); const m = require(${JSON.stringify(entry.pathname)}); ${body}`;
  const out = execFileSync(process.execPath, kind === 'esm' ? ['--input-type=module', '-e', code] : ['-e', code], { encoding: 'utf8' });
  const loaded = JSON.parse(out.trim().split('\n').pop());
  const others = Object.entries(FRAMEWORK).filter(([a]) => a !== adapter).map(([, name]) => name);
  const offenders = loaded.filter((p) => [...others, 'onnxruntime-node'].some((name) => p.includes(`/node_modules/${name}/`)));
  if (offenders.length) fail(`upkeep/${adapter} (${kind}) loaded other frameworks: ${offenders.slice(0, 5).join(', ')}`);
  console.log(`check-package: ${kind.toUpperCase()} upkeep/${adapter} loads none of ${others.join(', ')}; its errors are the root entry's classes`);
};
for (const adapter of ADAPTERS) for (const kind of ['esm', 'cjs']) adapterProbe(adapter, kind);

// Builds the dashboard (src/admin/dashboard/) into dist/dashboard/ with esbuild (tsup's own
// bundler): one minified ES module and one stylesheet with content-hashed names, and an
// index.html that links them relatively (the server adds a <base href> for its mount prefix).
// Usage: node scripts/build-dashboard.mjs [--outdir DIR] [--quiet]
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const outIndex = args.indexOf('--outdir');
const outdir = outIndex >= 0 ? resolve(args[outIndex + 1]) : join(root, 'dist', 'dashboard');
const quiet = args.includes('--quiet');
const src = join(root, 'src', 'admin', 'dashboard');

const started = Date.now();
await rm(outdir, { recursive: true, force: true });
await mkdir(join(outdir, 'assets'), { recursive: true });
const result = await build({
  entryPoints: { app: join(src, 'main.ts') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  platform: 'browser',
  outdir: join(outdir, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});
const outputs = Object.keys(result.metafile.outputs).map((p) => resolve(root, p));
const js = outputs.find((p) => p.endsWith('.js'));
const css = outputs.find((p) => p.endsWith('.css'));
if (!js || !css) throw new Error(`build-dashboard: expected one .js and one .css output, got ${outputs.join(', ')}`);
const template = await readFile(join(src, 'index.html'), 'utf8');
const html = template
  .replace('<!--upkeep:styles-->', `<link rel="stylesheet" href="assets/${basename(css)}">`)
  .replace('<!--upkeep:script-->', `<script type="module" src="assets/${basename(js)}"></script>`);
await writeFile(join(outdir, 'index.html'), html);

let raw = 0;
let gz = 0;
const rows = [];
for (const file of [js, css, join(outdir, 'index.html')]) {
  const bytes = await readFile(file);
  const zipped = gzipSync(bytes, { level: 9 }).length;
  raw += bytes.length;
  gz += zipped;
  rows.push(`  ${relative(outdir, file).padEnd(28)} ${(bytes.length / 1024).toFixed(1).padStart(6)} KiB  ${(zipped / 1024).toFixed(1).padStart(5)} KiB gzipped`);
}
const summary = { raw, gzip: gz, js: basename(js), css: basename(css) };
await writeFile(join(outdir, 'build.json'), JSON.stringify(summary, null, 2) + '\n');
if (!quiet) {
  console.log(`build-dashboard: ${relative(root, outdir) || outdir} in ${Date.now() - started} ms`);
  for (const row of rows) console.log(row);
  console.log(`  total ${(raw / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped`);
}

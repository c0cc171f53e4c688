// Checks the built dashboard after `npm run build`: its files are in the package, it stays
// within its size budget, and nothing outside dist/dashboard/ (the root entry, the subpath
// entries, their chunks) imports or contains front-end code: the assets are only read from
// disk when /dashboard is requested. Usage: node scripts/check-dashboard.mjs
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const fail = (message) => {
  console.error(`check-dashboard: FAIL: ${message}`);
  process.exit(1);
};
const GZIP_BUDGET = 40 * 1024;

const buildFile = join(dist, 'dashboard', 'build.json');
if (!existsSync(buildFile)) fail('dist/dashboard/build.json is missing: run npm run build first');
const build = JSON.parse(readFileSync(buildFile, 'utf8'));

const [pack] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
const packed = new Set(pack.files.map((f) => f.path));
for (const file of ['dist/dashboard/index.html', `dist/dashboard/assets/${build.js}`, `dist/dashboard/assets/${build.css}`]) {
  if (!packed.has(file)) fail(`npm pack is missing ${file}`);
}
if (build.gzip > GZIP_BUDGET) fail(`the dashboard is ${(build.gzip / 1024).toFixed(1)} KiB gzipped, over its ${GZIP_BUDGET / 1024} KiB budget`);
console.log(`check-dashboard: packed (${build.js}, ${build.css}), ${(build.gzip / 1024).toFixed(1)} KiB gzipped (budget ${GZIP_BUDGET / 1024} KiB)`);

// Front-end code has tell-tale imports and strings; none may appear outside dist/dashboard/.
const TELLS = [/\bfrom\s*["']preact(\/[\w-]+)?["']/, /require\(\s*["']preact(\/[\w-]+)?["']\s*\)/, /import\(\s*["']preact/, /Skip to content/, /data-perms/];
const offenders = [];
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (path !== join(dist, 'dashboard')) walk(path);
    } else if (/\.(c|m)?js$/.test(entry.name)) {
      const text = readFileSync(path, 'utf8');
      for (const tell of TELLS) if (tell.test(text)) offenders.push(`${relative(root, path)} (${tell})`);
    }
  }
};
walk(dist);
if (offenders.length) fail(`front-end code outside dist/dashboard/: ${offenders.join(', ')}`);

// And at run time: loading the root entry (CJS, where Node lists every module) loads no preact.
const code = `require('reflect-metadata'); require(${JSON.stringify(join(dist, 'index.cjs'))}); const loaded = Object.keys(require.cache).filter((p) => p.includes('/node_modules/preact/') || p.includes('/dashboard/')); console.log(JSON.stringify(loaded));`;
const loaded = JSON.parse(execFileSync(process.execPath, ['-e', code], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop());
if (loaded.length) fail(`the root entry loaded front-end files: ${loaded.join(', ')}`);
console.log('check-dashboard: no JS outside dist/dashboard/ imports or contains front-end code; the CJS root entry loads none');

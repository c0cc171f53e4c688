// Keeps package.json "typesVersions" in step with "exports", so every subpath (upkeep/onnx,
// upkeep/testing, ...) also resolves its types under TypeScript's `moduleResolution: node10`,
// which ignores "exports". Run by `npm run build`; `--check` only reports (exit 1 when stale).
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package.json', import.meta.url);
const text = readFileSync(file, 'utf8');
const pkg = JSON.parse(text);
const wanted = {};
for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
  if (subpath === '.' || !subpath.startsWith('./') || typeof target !== 'object') continue;
  // node10 consumers are CommonJS: the require types first, else the import ones.
  const types = target.require?.types ?? target.types ?? target.import?.types;
  if (types) wanted[subpath.slice(2)] = [types];
}
const current = pkg.typesVersions?.['*'] ?? {};
const same = JSON.stringify(current) === JSON.stringify(wanted);
if (same) {
  console.log(`sync-types-versions: typesVersions covers all ${Object.keys(wanted).length} subpath exports`);
  process.exit(0);
}
const missing = Object.keys(wanted).filter((k) => JSON.stringify(current[k]) !== JSON.stringify(wanted[k]));
if (process.argv.includes('--check')) {
  console.error(`sync-types-versions: typesVersions is stale for ${missing.join(', ') || 'removed entries'}: run node scripts/sync-types-versions.mjs`);
  process.exit(1);
}
pkg.typesVersions = { '*': wanted };
// Keep the file's own formatting (two spaces, trailing newline) so the diff is just this field.
writeFileSync(file, `${JSON.stringify(pkg, null, 2)}\n`);
console.log(`sync-types-versions: typesVersions updated for ${missing.join(', ') || 'removed entries'}`);

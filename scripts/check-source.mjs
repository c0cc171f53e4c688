#!/usr/bin/env node
// Source rules CI checks (npm run check:arch): no file under src/ over 500 lines, and no SQL
// text (SELECT ... FROM, UPDATE ... SET, INSERT INTO, DELETE FROM in a string literal)
// outside src/store/ and src/migrations/. Prints every violation and exits 1 if any.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const MAX_LINES = 500;
const SQL_HOMES = [`src${sep}store${sep}`, `src${sep}migrations${sep}`];
const SQL = /\bSELECT\b[\s\S]*?\bFROM\b|\bUPDATE\s+[\w"`$.{}()[\]\s]*?\bSET\b|\bINSERT\s+INTO\b|\bDELETE\s+FROM\b/;

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return /\.(ts|tsx|mts|cts)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** String and template literals of a source file, comments removed first. */
function literals(text) {
  const out = [];
  const re = /\/\*[\s\S]*?\*\/|\/\/[^\n]*|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/g;
  for (const m of text.matchAll(re)) {
    if (m[0].startsWith('/')) continue;
    out.push({ value: m[0], line: text.slice(0, m.index).split('\n').length });
  }
  return out;
}

const problems = [];
for (const path of files(join(root, 'src'))) {
  const rel = relative(root, path);
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  if (lines > MAX_LINES) problems.push(`${rel}: ${lines} lines (at most ${MAX_LINES})`);
  if (SQL_HOMES.some((home) => rel.startsWith(home))) continue;
  for (const { value, line } of literals(text)) {
    if (SQL.test(value)) problems.push(`${rel}:${line}: SQL text outside src/store/ and src/migrations/: ${value.slice(0, 70).replace(/\s+/g, ' ')}`);
  }
}
if (problems.length) {
  console.error(`check-source: ${problems.length} problem(s)`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log('check-source: every file under src/ has at most 500 lines; SQL text only in src/store/ and src/migrations/');

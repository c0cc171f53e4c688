#!/usr/bin/env node
// Source rules CI checks (npm run check:arch): no file under src/ over 500 lines, and no SQL
// outside src/store/ and src/migrations/: neither whole statements (SELECT ... FROM,
// UPDATE ... SET, INSERT INTO, DELETE FROM in a string literal) nor the pieces a WHERE
// string is built from (WHERE, ORDER BY, `col = ?`, `IN (?`, IS NULL, LIMIT ?, ...), nor
// quoting identifiers with the store's codec (`codec.id(...)`). Keywords count in capitals
// only, as the store writes them, so prose such as "where" in a message does not.
// Prints every violation and exits 1 if any.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const MAX_LINES = 500;
const SQL_HOMES = [`src${sep}store${sep}`, `src${sep}migrations${sep}`];
const SQL = /\bSELECT\b[\s\S]*?\bFROM\b|\bUPDATE\s+[\w"`$.{}()[\]\s]*?\bSET\b|\bINSERT\s+INTO\b|\bDELETE\s+FROM\b/;
/** Pieces of SQL a caller could assemble a statement or a WHERE string from. */
const SQL_PIECES = /\b(WHERE|ORDER\s+BY|GROUP\s+BY|SKIP\s+LOCKED|FOR\s+(NO\s+KEY\s+)?UPDATE|ON\s+CONFLICT|ON\s+DUPLICATE\s+KEY|RETURNING|IS\s+(NOT\s+)?NULL|NOT\s+EXISTS|COALESCE|LIMIT\s+\?)\b|[=<>]\s*\?|\bIN\s*\(\s*\?|\bCAST\s*\(\s*\?|\bAND\s+\$\{/;
/** The store's identifier quoting used to build SQL (`codec.id('status')`, `c.id(...)`). */
const QUOTING = /\b(codec|c)\.id\(|\bcodec\.list\(/;

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
    if (SQL.test(value) || SQL_PIECES.test(value)) problems.push(`${rel}:${line}: SQL text outside src/store/ and src/migrations/: ${value.slice(0, 70).replace(/\s+/g, ' ')}`);
  }
  const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, (comment) => comment.replace(/[^\n]/g, ''));
  for (const [index, lineText] of code.split('\n').entries()) {
    if (QUOTING.test(lineText)) problems.push(`${rel}:${index + 1}: SQL built outside src/store/ (identifier quoting): ${lineText.trim().slice(0, 70)}`);
  }
}
if (problems.length) {
  console.error(`check-source: ${problems.length} problem(s)`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log('check-source: every file under src/ has at most 500 lines; SQL text only in src/store/ and src/migrations/');

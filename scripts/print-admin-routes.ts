/**
 * `npm run admin:routes`: prints the admin API's route table (from `ADMIN_ROUTES`, the same
 * table the handler and `GET /openapi.json` use) as Markdown. With `--write`, replaces the
 * generated block of docs/admin-api.md between its BEGIN/END markers.
 */
import 'reflect-metadata';
import { readFileSync, writeFileSync } from 'node:fs';
import { ADMIN_ROUTES, ERROR_STATUS, ROLE_PERMISSIONS } from '../src';

const STATUS_NAME: Record<number, string> = { 400: '400', 404: '404', 409: '409', 413: '413', 415: '415' };
const lines: string[] = [];
lines.push('| method | path | name | permission | what | errors besides 401/403/429 |', '|---|---|---|---|---|---|');
for (const r of ADMIN_ROUTES) {
  lines.push(`| ${r.method} | \`${r.path}\` | \`${r.name}\` | ${r.permission ? `\`${r.permission}\`` : 'any signed-in caller'} | ${r.summary.replace(/\|/g, '\\|')} | ${r.errors.map((s) => STATUS_NAME[s] ?? s).join(', ') || '-'} |`);
}
lines.push('', '#### Query parameters', '');
for (const r of ADMIN_ROUTES) {
  if (!r.query) continue;
  lines.push(`- \`${r.method} ${r.path}\`: ${Object.entries(r.query).map(([k, q]) => `\`${k}\` (${q.type}${q.enum ? `: ${q.enum.join('/')}` : ''}${q.max !== undefined ? `, max ${q.max}` : ''}) ${q.description}`).join('; ')}`);
}
lines.push('', '#### Roles (default policy)', '', '| role | permissions |', '|---|---|');
for (const [role, perms] of Object.entries(ROLE_PERMISSIONS)) lines.push(`| \`${role}\` | ${[...perms].map((p) => `\`${p}\``).join(', ')} |`);
lines.push('', 'A principal with `admin: true` (the first seed) has every permission.', '', '#### Error codes', '', '| code | HTTP status |', '|---|---|');
for (const [code, status] of Object.entries(ERROR_STATUS)) lines.push(`| \`${code}\` | ${status} |`);
lines.push('| anything else | 500, `{ "code": "INTERNAL" }` (logged through `onError`, never shown) |');
const table = lines.join('\n');

if (process.argv.includes('--write')) {
  const path = new URL('../docs/admin-api.md', import.meta.url);
  const doc = readFileSync(path, 'utf8');
  const begin = '<!-- BEGIN GENERATED: npm run admin:routes -- --write -->';
  const end = '<!-- END GENERATED -->';
  const a = doc.indexOf(begin);
  const b = doc.indexOf(end);
  if (a < 0 || b < a) throw new Error('docs/admin-api.md has no generated block markers');
  writeFileSync(path, `${doc.slice(0, a + begin.length)}\n${table}\n${doc.slice(b)}`);
  console.log(`admin:routes: wrote ${ADMIN_ROUTES.length} routes into docs/admin-api.md`);
} else {
  console.log(table);
}

// Builds the dashboard into dist/dashboard/ when it is missing or older than its sources,
// so the Express example (started as a process) serves the current code.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

export default function setup(): void {
  const index = join(root, 'dist', 'dashboard', 'index.html');
  const sources = Math.max(newestSource(join(root, 'src', 'admin', 'dashboard')), statSync(join(root, 'scripts', 'build-dashboard.mjs')).mtimeMs);
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  execFileSync(process.execPath, [join(root, 'scripts', 'build-dashboard.mjs')], { stdio: 'inherit', cwd: root });
}

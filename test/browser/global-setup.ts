// Builds the dashboard for the browser tests into a folder of their own (the example server
// is pointed at it with UPKEEP_DASHBOARD_DIR), so a `tsup` run elsewhere cleaning dist/ mid-run
// cannot take the assets away. `npm run build` builds the same sources into dist/dashboard/.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where this run's dashboard build is. */
    dashboardDir: string;
  }
}

const root = fileURLToPath(new URL('../..', import.meta.url));

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'upkeep-dashboard-build-'));
  execFileSync(process.execPath, [join(root, 'scripts', 'build-dashboard.mjs'), '--outdir', dir], { stdio: 'inherit', cwd: root });
  project.provide('dashboardDir', dir);
  return () => rmSync(dir, { recursive: true, force: true });
}

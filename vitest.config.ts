import { defineConfig } from 'vitest/config';

// The database suites run the same files against each backend; UPKEEP_TEST_DB picks it.
const dbProject = (name: 'sqlite' | 'postgres' | 'mariadb') => ({
  extends: true as const,
  test: {
    name,
    include: ['test/db/**/*.test.ts'],
    env: { UPKEEP_TEST_DB: name },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});

export default defineConfig({
  test: {
    setupFiles: ['test/setup.ts'],
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 } },
      dbProject('sqlite'),
      dbProject('postgres'),
      dbProject('mariadb'),
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts', 'examples/**/*.test.ts'], testTimeout: 180_000, hookTimeout: 120_000 } },
      // The dashboard in Debian's Chromium (playwright-core) against the Express example as a process; builds dist/dashboard first.
      { extends: true, test: { name: 'browser', include: ['test/browser/**/*.test.ts'], globalSetup: ['test/browser/global-setup.ts'], testTimeout: 180_000, hookTimeout: 180_000, fileParallelism: false } },
      // Process-level faults (issue 7): throwaway servers restarted and killed, runner processes frozen and killed.
      // One file at a time, and only after every other project has finished (groupOrder 1): its
      // outages must stay far below the runners' leases, which a machine shared with the heavy
      // suites cannot promise. Each file's beforeAll has its own 240 s budget (a loaded 2-core
      // machine takes about twice the idle ~20-60 s per file); the tests after it only read.
      {
        extends: true,
        test: { name: 'fault', include: ['test/fault/**/*.test.ts'], testTimeout: 180_000, hookTimeout: 180_000, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});

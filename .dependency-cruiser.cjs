/**
 * Architecture rules checked in CI (`npm run check:arch`). Which folder of src/ may import
 * which: the store is the bottom layer (SQL and dialects) and imports none of runner, facade,
 * admin or integrations; the runner may import the store, never the reverse; nothing inside the
 * library imports an integration; the runner's pieces never import the runner class.
 * Type-only imports are left out (they vanish at build time).
 */
/** @type {import('dependency-cruiser').IDependencyCruiserConfig} */
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'No import cycles.', from: { path: '^src' }, to: { circular: true } },
    {
      name: 'store-is-the-bottom',
      severity: 'error',
      comment: 'src/store/ holds SQL and dialects; it imports no runner, facade, admin, metrics or integration code.',
      from: { path: '^src/store/' },
      to: { path: '^src/(runner|admin|integrations|metrics|pool|queue|cli|testing)/|^src/core/upkeep' },
    },
    {
      name: 'runner-pieces-do-not-import-the-runner',
      severity: 'error',
      comment: 'The runner wires its pieces; a piece sees it only through RunnerCore (runner-types.ts).',
      from: { path: '^src/runner/', pathNot: '^src/runner/maintenance-task-runner\\.ts$' },
      to: { path: '^src/runner/maintenance-task-runner\\.ts$' },
    },
    {
      name: 'core-library-does-not-import-integrations',
      severity: 'error',
      comment: 'Optional peers are reached only through their subpath entries.',
      from: { path: '^src/', pathNot: '^src/integrations/' },
      to: { path: '^src/integrations/' },
    },
    {
      name: 'entities-and-migrations-stay-low',
      severity: 'error',
      comment: 'Entities and migrations import only the store dialect helpers and core types.',
      from: { path: '^src/(entities|migrations)/' },
      to: { path: '^src/(runner|admin|integrations|metrics|pool|queue|events|resources|processor)/' },
    },
    {
      name: 'events-do-not-import-runner',
      severity: 'error',
      from: { path: '^src/events/' },
      to: { path: '^src/(runner|admin|integrations)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: false,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '(^|/)(dist|node_modules)/' },
  },
};

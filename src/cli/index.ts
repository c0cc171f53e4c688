// The CLI's programmatic face (used by `npx upkeep` and its tests).
export { runCli } from './run-cli';
export { EXIT } from './exit-codes';
export type { CliIo } from './cli-output';
export type { UpkeepCliConfig } from './load-config';

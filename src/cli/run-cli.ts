import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { isUpkeepError } from '../core/errors';
import type { CliIo } from './cli-output';
import { CliError, EXIT } from './exit-codes';
import { cliModuleUrl } from './load-config';
import { addRunCommands } from './run-commands';
import { addTaskCommands } from './task-commands';

function version(): string {
  try {
    return (createRequire(cliModuleUrl())('../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const UPKEEP_ERROR_EXIT: Record<string, number> = {
  TASK_NOT_FOUND: EXIT.NOT_FOUND,
  ILLEGAL_TRANSITION: EXIT.ILLEGAL_TRANSITION,
  INVALID_ARGUMENT: EXIT.USAGE,
  PROCESSOR_VALIDATION: EXIT.USAGE,
  INVALID_SETTINGS: EXIT.CONFIG,
  PROCESSOR_REGISTRATION: EXIT.CONFIG,
};

/**
 * Runs `upkeep <command>` with `argv` (without node and the script) and resolves with the
 * exit code; writes only to `io`. See docs/getting-started.md for the commands and codes.
 */
export async function runCli(argv: string[], io: CliIo = { out: process.stdout, err: process.stderr, cwd: process.cwd() }): Promise<number> {
  let code: number = EXIT.OK;
  const done = (c: number) => {
    code = c;
  };
  const program = new Command('upkeep')
    .description('Maintenance tasks of the upkeep library: migrate, run, inspect and act on tasks.\nReads upkeep.config.(ts|mjs|js) in the working directory (or --config PATH).')
    .version(version(), '-v, --version')
    .exitOverride()
    .showSuggestionAfterError()
    .configureOutput({ writeOut: (s) => void io.out.write(s), writeErr: (s) => void io.err.write(s) })
    .addHelpText(
      'after',
      `\nExit codes: ${EXIT.OK} ok · ${EXIT.FAILURE} failure · ${EXIT.USAGE} usage · ${EXIT.NOT_FOUND} no such task · ${EXIT.ILLEGAL_TRANSITION} illegal transition · ${EXIT.CONFIG} config problem · ${EXIT.TASKS_FAILED} run-due --strict saw a failed task`,
    );
  const common = (cmd: Command) =>
    cmd
      .option('-c, --config <path>', 'config file (default: upkeep.config.ts|mts|mjs|js in the working directory)')
      .option('--json', 'print JSON instead of text')
      .exitOverride()
      .configureOutput({ writeOut: (s) => void io.out.write(s), writeErr: (s) => void io.err.write(s) });
  addRunCommands(program, io, common, done);
  addTaskCommands(program, io, common, done);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    if (error instanceof CliError) {
      io.err.write(`upkeep: ${error.message}\n`);
      return error.exitCode;
    }
    if (isUpkeepError(error)) {
      io.err.write(`upkeep: ${error.message}\n`);
      return UPKEEP_ERROR_EXIT[error.code] ?? EXIT.FAILURE;
    }
    io.err.write(`upkeep: ${(error as Error)?.stack ?? String(error)}\n`);
    return EXIT.FAILURE;
  }
}

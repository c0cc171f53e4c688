/**
 * Exit codes of `npx upkeep`, stable for scripts:
 * 0 done; 1 the command failed (database unreachable, unexpected error); 2 usage (unknown
 * command or option, bad argument); 3 no task has that id; 4 the action is not allowed in
 * the task's status (illegal transition); 5 the config file is missing or invalid;
 * 6 `run-due --strict`: some tasks failed.
 */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  ILLEGAL_TRANSITION: 4,
  CONFIG: 5,
  TASKS_FAILED: 6,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports as one line and turns into its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The exit code for an admin API error status. */
export function exitCodeOfStatus(status: number): ExitCode {
  if (status === 404) return EXIT.NOT_FOUND;
  if (status === 409) return EXIT.ILLEGAL_TRANSITION;
  if (status === 400 || status === 413 || status === 415) return EXIT.USAGE;
  return EXIT.FAILURE;
}

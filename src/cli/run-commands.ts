import type { Command } from 'commander';
import { attachLifecycleLogger } from '../core/lifecycle-logger';
import type { UpkeepLogger } from '../core/logger';
import { stopOnSignals } from '../runner/signals';
import { parseDuration, printJson, type CliIo } from './cli-output';
import { openSession } from './cli-session';
import { CliError, EXIT } from './exit-codes';
import { trackRunDue } from './run-due-progress';
import { withSession, type CommonOptions } from './task-commands';

const positive = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`${name} must be a positive integer (got ${JSON.stringify(value)})`, EXIT.USAGE);
  return n;
};

/** A logger printing one readable line per event, for `worker`. */
function lineLogger(io: CliIo): UpkeepLogger {
  const at = (level: string) => (message: string, meta?: Record<string, unknown>) => {
    const extra = meta && level !== 'info' && meta.reason ? ` [${String(meta.reason)}]` : '';
    (level === 'error' || level === 'warn' ? io.err : io.out).write(`${new Date().toISOString()} ${level.padEnd(5)} ${message}${extra}\n`);
  };
  return { debug: () => undefined, info: at('info'), warn: at('warn'), error: at('error') };
}

/** Adds migrate, worker and run-due to the program. */
export function addRunCommands(program: Command, io: CliIo, common: (c: Command) => Command, done: (code: number) => void): void {
  common(program.command('migrate').description("run the config's pending migrations (upkeep's included)"))
    .action((o: CommonOptions) =>
      withSession(
        io,
        o,
        async ({ dataSource, configPath }) => {
          const names = (dataSource.options.migrations as unknown[] | undefined ?? []).map((m) => (typeof m === 'function' ? m.name : String(m)));
          if (!names.some((n) => n.startsWith('UpkeepInit'))) io.err.write(`upkeep: warning: the DataSource in ${configPath} does not list UPKEEP_MIGRATIONS in its migrations\n`);
          // Run them here (not through migrationsRun at initialize) so the applied ones can be listed.
          dataSource.setOptions({ migrationsRun: false });
          try {
            await dataSource.initialize();
          } catch (error) {
            throw new CliError(`could not open the database of ${configPath}: ${(error as Error).message}`, EXIT.FAILURE);
          }
          const applied = await dataSource.runMigrations({ transaction: 'each' });
          if (o.json) return printJson(io, { applied: applied.map((m) => m.name) });
          io.out.write(applied.length ? `applied ${applied.length} migrations:\n${applied.map((m) => `  ${m.name}\n`).join('')}` : 'the database is up to date: no pending migrations\n');
        },
        false,
      ).then(() => done(EXIT.OK)),
    );

  common(program.command('run-due').description('run every task that is due now and exit (a progress bar on a terminal)'))
    .option('--concurrency <n>', 'tasks run at once', positive('--concurrency'))
    .option('--strict', `exit with ${EXIT.TASKS_FAILED} when a task ended in ERROR`)
    .action((o: CommonOptions & { concurrency?: number; strict?: boolean }) =>
      withSession(io, o, async ({ upkeep }) => {
        const expected = (await upkeep.metrics()).queuedTasks.due;
        if (!o.json) io.out.write(`run-due: ${expected} tasks due\n`);
        const stopTracking = o.json ? () => undefined : trackRunDue(io, upkeep.events, expected);
        let result;
        try {
          result = await upkeep.runDue(o.concurrency ? { concurrency: o.concurrency } : {});
        } finally {
          stopTracking();
        }
        if (o.json) printJson(io, result);
        else {
          io.out.write(
            `run-due: ${result.claimed} claimed · ${result.completed} completed · ${result.failed} failed · ${result.retried} retry scheduled · ${result.cancelled} cancelled · ${(result.durationMs / 1000).toFixed(1)} s\n`,
          );
        }
        return o.strict && result.failed > 0 ? EXIT.TASKS_FAILED : EXIT.OK;
      }).then((code) => done(code)),
    );

  common(program.command('worker').description('run a long-lived runner until SIGTERM or SIGINT (graceful stop)'))
    .option('--concurrency <n>', 'tasks run at once', positive('--concurrency'))
    .option('--grace <duration>', 'how long a stop waits for running tasks before handing them back', '30s')
    .action(async (o: CommonOptions & { concurrency?: number; grace: string }) => {
      const graceMs = parseDuration(o.grace);
      if (graceMs === null) throw new CliError('--grace must be a duration such as 30s or 2m', EXIT.USAGE);
      const session = await openSession(io.cwd, o.config);
      // With the config's own logger the facade already logs the lifecycle there; otherwise print it.
      if (!session.config.logger) attachLifecycleLogger(session.upkeep.events, lineLogger(io));
      const runner = session.upkeep.createRunner(o.concurrency ? { concurrency: o.concurrency } : {});
      stopOnSignals(runner, {
        graceMs,
        onStopped: async () => {
          const s = runner.stats();
          io.out.write(`worker stopped: ${s.completed} completed · ${s.failed} failed · ${s.retried} retried · ${s.handedBack} handed back\n`);
          await session.close();
        },
      });
      await runner.start();
      io.out.write(`worker started (${session.upkeep.registry.names().join(', ') || 'no processors'}); SIGTERM or Ctrl-C stops it gracefully\n`);
      // Runs until a signal; stopOnSignals exits the process.
      await new Promise(() => undefined);
    });
}

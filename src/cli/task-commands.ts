import { InvalidArgumentError as CommanderInvalidArgument, type Command } from 'commander';
import { TaskStatus } from '../core/status';
import { MaintenanceTask } from '../entities/maintenance-task.entity';
import { parseDuration, printFields, printJson, printTable, type CliIo } from './cli-output';
import { openSession, type CliSession } from './cli-session';
import { CliError, EXIT } from './exit-codes';

/** Options every command takes. */
export interface CommonOptions {
  config?: string;
  json?: boolean;
}

/** Runs `fn` on an open session and closes it whatever happens. */
export async function withSession<T>(io: CliIo, options: CommonOptions, fn: (s: CliSession) => Promise<T>, connect = true): Promise<T> {
  const session = await openSession(io.cwd, options.config, { connect });
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

type Summary = { id: string; status: string; type: string; attempts: number; maxAttempts: number; device: string | null; createdAt: string | null; updatedAt: string | null; lastError: string | null };

const int = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new CommanderInvalidArgument(`${name} must be a non-negative integer`);
  return n;
};
const duration = (name: string) => (value: string) => {
  const ms = parseDuration(value);
  if (ms === null) throw new CommanderInvalidArgument(`${name} must be a duration such as 500ms, 30s, 15m, 12h or 7d`);
  return ms;
};
const STATUSES = Object.values(TaskStatus) as string[];

/** Adds list, show, the actions, enqueue, status, schedules, reset-stuck and prune to the program. */
export function addTaskCommands(program: Command, io: CliIo, common: (c: Command) => Command, done: (code: number) => void): void {
  common(program.command('status').description('task counts by status and by processor type'))
    .action((o: CommonOptions) =>
      withSession(io, o, async ({ upkeep, dataSource }) => {
        const byStatus = await upkeep.countByStatus();
        const repo = dataSource.getRepository(MaintenanceTask);
        const types = upkeep.registry.names();
        const byType: Record<string, Record<string, number>> = {};
        for (const type of types) {
          const row: Record<string, number> = {};
          for (const status of STATUSES) {
            const n = byStatus[status as TaskStatus] ? await repo.countBy({ processorType: type, status: status as TaskStatus }) : 0;
            if (n) row[status] = n;
          }
          byType[type] = row;
        }
        // Tasks of types this config does not register.
        const other: Record<string, number> = {};
        for (const status of STATUSES) {
          const known = types.reduce((n, t) => n + (byType[t]![status] ?? 0), 0);
          const rest = (byStatus[status as TaskStatus] ?? 0) - known;
          if (rest > 0) other[status] = rest;
        }
        if (Object.keys(other).length) byType['(other types)'] = other;
        const total = Object.values(byStatus).reduce((a, b) => a + b, 0);
        if (o.json) return printJson(io, { total, byStatus, byType });
        io.out.write(`${total} tasks\n`);
        printTable(io, ['status', 'tasks'], STATUSES.map((s) => [s, byStatus[s as TaskStatus] ?? 0]));
        if (Object.keys(byType).length) {
          io.out.write('\n');
          printTable(io, ['type', ...STATUSES], Object.entries(byType).map(([t, row]) => [t, ...STATUSES.map((s) => row[s] ?? 0)]));
        }
      }).then(() => done(EXIT.OK)),
    );

  common(program.command('list').description("list tasks, newest first (the admin API's filters)"))
    .option('--status <list>', `statuses, comma-separated (${STATUSES.join(', ')})`)
    .option('--type <list>', 'processor types, comma-separated')
    .option('--device <id>', 'assigned device (cpu, cuda:0)')
    .option('--from <date>', 'created at or after (ISO 8601)')
    .option('--to <date>', 'created before (ISO 8601)')
    .option('--unique-key <key>', 'unique key, exactly')
    .option('--limit <n>', 'page size, 1-500', '50')
    .option('--cursor <cursor>', 'nextCursor of the previous page')
    .action((o: CommonOptions & Record<string, string | undefined>) =>
      withSession(io, o, async (s) => {
        const status = o.status?.toUpperCase();
        const body = await s.call<{ items: Summary[]; nextCursor: string | null; total: number | null; totalCapped: boolean }>('GET', '/tasks', {
          query: { status, type: o.type, device: o.device, from: o.from, to: o.to, uniqueKey: o.uniqueKey, limit: o.limit, cursor: o.cursor },
        });
        if (o.json) return printJson(io, body);
        if (!body.items.length) io.out.write('no tasks match\n');
        else printTable(io, ['id', 'status', 'type', 'attempts', 'device', 'updated', 'last error'], body.items.map((t) => [t.id, t.status, t.type, `${t.attempts}/${t.maxAttempts}`, t.device, t.updatedAt, t.lastError?.slice(0, 60)]));
        io.out.write(`${body.items.length} shown of ${body.total ?? '?'}${body.totalCapped ? '+' : ''}${body.nextCursor ? ` · next page: --cursor ${body.nextCursor}` : ''}\n`);
      }).then(() => done(EXIT.OK)),
    );

  common(program.command('show').argument('<id>', 'task id').description('one task: props, info, errors, attempts'))
    .option('--events', "also the task's timeline")
    .action((id: string, o: CommonOptions & { events?: boolean }) =>
      withSession(io, o, async (s) => {
        const task = await s.call<Record<string, unknown>>('GET', `/tasks/${encodeURIComponent(id)}`);
        const events = o.events ? await s.call<{ items: Array<Record<string, unknown>> }>('GET', `/tasks/${encodeURIComponent(id)}/events`) : undefined;
        if (o.json) return printJson(io, events ? { ...task, events: events.items } : task);
        printFields(io, Object.entries(task));
        if (events) {
          io.out.write('\n');
          printTable(io, ['time', 'event', 'details'], events.items.map((e) => [String(e.timestamp ?? ''), String(e.eventType ?? e.type ?? ''), JSON.stringify(e.details ?? {}).slice(0, 80)]));
        }
      }).then(() => done(EXIT.OK)),
    );

  for (const action of ['start', 'cancel', 'pause', 'resume', 'retry'] as const) {
    const cmd = common(program.command(action).argument('<id>', 'task id').description(ACTION_HELP[action]));
    if (action === 'start') cmd.option('--device <id>', 'pin the task to this device');
    cmd.action((id: string, o: CommonOptions & { device?: string }) =>
      withSession(io, o, async (s) => {
        const body = await s.call<{ task: { id: string; status: string }; pending: string | null }>('POST', `/tasks/${encodeURIComponent(id)}/${action}`, { body: o.device ? { device: o.device } : {} });
        if (o.json) return printJson(io, body);
        io.out.write(`task ${body.task.id}: ${action} ${body.pending ? `requested; it stops at its next safe point (status ${body.task.status})` : `done (status ${body.task.status})`}\n`);
      }).then(() => done(EXIT.OK)),
    );
  }

  common(program.command('enqueue').argument('<type>', 'processor type (@Processor name) from the config').description("create a task through the config's processors"))
    .option('--props <json>', 'the processor props as JSON', '{}')
    .option('--delay <duration>', 'start after this long (30s, 15m, 2h)', duration('--delay'))
    .option('--start-at <date>', 'start at this time (ISO 8601)')
    .option('--priority <n>', 'priority (higher first)', (v) => Number(v))
    .option('--max-attempts <n>', 'attempts before ERROR', int('--max-attempts'))
    .option('--unique-key <key>', 'de-duplication key')
    .option('--inactive', 'create INACTIVE (start it later)')
    .action((type: string, o: CommonOptions & { props: string; delay?: number; startAt?: string; priority?: number; maxAttempts?: number; uniqueKey?: string; inactive?: boolean }) => {
      let props: unknown;
      try {
        props = JSON.parse(o.props);
      } catch (error) {
        throw new CliError(`--props is not valid JSON: ${(error as Error).message}`, EXIT.USAGE);
      }
      const options = Object.fromEntries(
        Object.entries({ delayMs: o.delay, startAt: o.startAt, priority: o.priority, maxAttempts: o.maxAttempts, uniqueKey: o.uniqueKey, inactive: o.inactive }).filter(([, v]) => v !== undefined),
      );
      return withSession(io, o, async (s) => {
        if (!s.upkeep.registry.get(type)) {
          throw new CliError(`unknown processor type "${type}": ${s.configPath} registers ${s.upkeep.registry.names().map((n) => `"${n}"`).join(', ') || 'none'}`, EXIT.USAGE);
        }
        const task = await s.call<{ id: string; status: string; startAt: string }>('POST', '/tasks', { body: { type, props, options } });
        if (o.json) return printJson(io, task);
        io.out.write(`${task.id}\n`);
      }).then(() => done(EXIT.OK));
    });

  common(program.command('schedules').description('cron schedules of the config and their next occurrence'))
    .action((o: CommonOptions) =>
      withSession(io, o, async (s) => {
        const body = await s.call<{ items: Array<{ name: string; cron: string; timezone: string | null; catchUp: string; nextOccurrence: string | null }> }>('GET', '/schedules');
        if (o.json) return printJson(io, body);
        if (!body.items.length) io.out.write('no schedules in the config\n');
        else printTable(io, ['name', 'cron', 'timezone', 'catch-up', 'next'], body.items.map((x) => [x.name, x.cron, x.timezone, x.catchUp, x.nextOccurrence]));
      }).then(() => done(EXIT.OK)),
    );

  common(program.command('reset-stuck').description('WORKING tasks whose lease expired (or older than --older-than) back to PENDING'))
    .option('--older-than <duration>', 'also tasks started longer ago than this, lease or not (e.g. 2h)', duration('--older-than'))
    .action((o: CommonOptions & { olderThan?: number }) =>
      withSession(io, o, async ({ upkeep }) => {
        const ids = await upkeep.resetStuckTasks(o.olderThan !== undefined ? { olderThanMs: o.olderThan } : {});
        if (o.json) return printJson(io, { reset: ids });
        io.out.write(ids.length ? `reset ${ids.length} tasks:\n${ids.map((id) => `  ${id}\n`).join('')}` : 'no stuck tasks\n');
      }).then(() => done(EXIT.OK)),
    );

  common(program.command('prune').description("delete finished tasks, events and metrics older than the config's retention (or the ages given)"))
    .option('--completed <duration>', 'COMPLETED tasks finished longer ago than this', duration('--completed'))
    .option('--failed <duration>', 'ERROR and CANCELLED tasks finished longer ago than this', duration('--failed'))
    .option('--events <duration>', 'task_events older than this', duration('--events'))
    .option('--metrics <duration>', 'task_metrics older than this', duration('--metrics'))
    .action((o: CommonOptions & { completed?: number; failed?: number; events?: number; metrics?: number }) =>
      withSession(io, o, async ({ upkeep, config }) => {
        const given = Object.fromEntries(
          Object.entries({ completedAfterMs: o.completed, failedAfterMs: o.failed, eventsAfterMs: o.events, metricsAfterMs: o.metrics }).filter(([, v]) => v !== undefined),
        );
        const policy = Object.keys(given).length ? given : config.retention;
        if (!policy || !Object.keys(policy).length) throw new CliError('nothing to prune by: the config has no retention and no --completed/--failed/--events/--metrics was given', EXIT.USAGE);
        const result = await upkeep.prune(policy);
        if (o.json) return printJson(io, result);
        io.out.write(`pruned ${result.tasks} tasks, ${result.events} events, ${result.metrics} metric samples\n`);
      }).then(() => done(EXIT.OK)),
    );
}

const ACTION_HELP = {
  start: 'make an INACTIVE or PAUSED task due now',
  cancel: 'cancel a task (a WORKING one stops at its next safe point)',
  pause: 'pause a PENDING task, or a WORKING one at its next safe point',
  resume: 'resume a PAUSED task',
  retry: 're-queue an ERROR or CANCELLED task with fresh attempts',
} as const;

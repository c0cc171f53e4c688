import type { MaintenanceTaskRunner, StopOptions } from './maintenance-task-runner';

/** Options of {@link stopOnSignals}. */
export interface StopOnSignalsOptions extends StopOptions {
  /** Signals that trigger a graceful stop. @defaultValue ['SIGTERM', 'SIGINT'] */
  signals?: NodeJS.Signals[];
  /** Call `process.exit(0)` after the stop (1 if it failed). @defaultValue true */
  exit?: boolean;
  /** Called after the runners stopped, before exiting (close your DataSource here). */
  onStopped?: () => Promise<void> | void;
}

/**
 * Stops the runners gracefully on SIGTERM/SIGINT (what Kubernetes, systemd and Ctrl-C
 * send): stop claiming, finish or hand back in-flight work within `graceMs`, then exit.
 * A second signal while stopping exits at once. Returns a function that removes the handlers.
 */
export function stopOnSignals(runners: MaintenanceTaskRunner | MaintenanceTaskRunner[], options: StopOnSignalsOptions = {}): () => void {
  const list = Array.isArray(runners) ? runners : [runners];
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      if (options.exit !== false) process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
      return;
    }
    stopping = true;
    Promise.all(list.map((r) => r.stop({ graceMs: options.graceMs })))
      .then(() => options.onStopped?.())
      .then(
        () => options.exit !== false && process.exit(0),
        () => options.exit !== false && process.exit(1),
      );
  };
  for (const signal of signals) process.on(signal, handler);
  return () => {
    for (const signal of signals) process.off(signal, handler);
  };
}

import type { UpkeepEvents } from '../events/upkeep-events';
import type { CliIo } from './cli-output';

/**
 * Progress of `run-due`: a bar redrawn in place on a TTY, else a plain line at most every
 * two seconds (and at each tenth of the way), so logs of a CI job stay short.
 */
export function trackRunDue(io: CliIo, events: UpkeepEvents, expected: number): () => void {
  const counts = { completed: 0, failed: 0, retried: 0, cancelled: 0 };
  const began = Date.now();
  const tty = io.out.isTTY === true;
  let lastLine = 0;
  let lastTenth = -1;
  const done = () => counts.completed + counts.failed + counts.cancelled;
  const render = (final = false) => {
    const n = done();
    const total = Math.max(expected, n);
    const secs = ((Date.now() - began) / 1000).toFixed(1);
    const tail = `${counts.completed} completed · ${counts.failed} failed · ${counts.retried} retry scheduled · ${secs} s`;
    if (tty) {
      const width = Math.max(10, Math.min(30, (io.out.columns ?? 80) - 70));
      const filled = total ? Math.round((n / total) * width) : width;
      io.out.write(`\r\x1b[2K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${n}/${total} · ${tail}${final ? '\n' : ''}`);
      return;
    }
    const tenth = total ? Math.floor((n / total) * 10) : 10;
    if (!final && tenth === lastTenth && Date.now() - lastLine < 2000) return;
    lastTenth = tenth;
    lastLine = Date.now();
    io.out.write(`progress: ${n}/${total} tasks · ${tail}\n`);
  };
  const listeners = {
    'task:completed': () => {
      counts.completed++;
      render();
    },
    'task:failed': ({ willRetry }: { willRetry: boolean }) => {
      if (willRetry) counts.retried++;
      else counts.failed++;
      render();
    },
    'task:cancelled': () => {
      counts.cancelled++;
      render();
    },
  };
  for (const [event, fn] of Object.entries(listeners)) events.on(event as never, fn as never);
  return () => {
    for (const [event, fn] of Object.entries(listeners)) events.off(event as never, fn as never);
    if (tty) render(true);
  };
}

import type { JsonValue, MaintenanceTask, TaskInfo, TaskRunnerInfo } from '../entities/maintenance-task.entity';
import { storableText } from './storable-text';

/** Most characters `last_error` holds: the message first, then as much of the stack as fits. */
export const LAST_ERROR_MAX_CHARS = 8 * 1024;

/**
 * `info` of a COMPLETED task: the processor's returned object as it is; a value that is not
 * an object (number, string, boolean, array) as `{ result: value }`; `null` (or `undefined`,
 * already `null` once made storable) as `null`. @internal
 */
export function completedInfo(result: JsonValue | undefined): TaskInfo | null {
  if (result === undefined || result === null) return null;
  if (typeof result === 'object' && !Array.isArray(result)) return result as TaskInfo;
  return { result };
}

/** An error as the runner describes it (see `describeThrown`). @internal */
export interface ErrorDescription {
  name: string;
  message: string;
  code?: string;
  stack?: string;
}

/** `info` after a failure: `{ error: message, errorName, errorCode?, attempt }`, never a stack. @internal */
export function failureInfo(error: ErrorDescription, attempt: number): TaskInfo {
  return { error: boundedText(error.message, LAST_ERROR_MAX_CHARS), errorName: boundedText(error.name, 200), ...(error.code !== undefined ? { errorCode: error.code } : {}), attempt };
}

/** The error a stored `info` describes (for events about a failure written elsewhere), if any. @internal */
export function errorOfInfo(info: TaskInfo | null | undefined): { name: string; message: string; code?: string } | undefined {
  if (!info || typeof info.error !== 'string') return undefined;
  return { name: info.errorName ?? 'Error', message: info.error, ...(info.errorCode !== undefined ? { code: info.errorCode } : {}) };
}

/**
 * `last_error`: the message, then the stack (without its head when that only repeats the
 * name and message), at most {@link LAST_ERROR_MAX_CHARS} characters. The message comes
 * first so that the bound cuts the stack, not the message. @internal
 */
export function lastErrorText(error: Pick<ErrorDescription, 'message' | 'stack'>): string {
  const { message } = error;
  let stack = error.stack ?? '';
  // V8's stack starts with `${name}: ${message}` (the name as it was when the error was made).
  const named = stack.indexOf(`: ${message}`);
  const headEnd = stack.startsWith(message) ? message.length : named >= 0 && !stack.slice(0, named).includes('\n') ? named + 2 + message.length : -1;
  if (message && headEnd >= 0) stack = stack.slice(headEnd).replace(/^\r?\n/, '');
  const text = stack ? `${message}\n${stack}` : message;
  if (text.length <= LAST_ERROR_MAX_CHARS) return text;
  // A cut surrogate pair becomes U+FFFD, storable everywhere.
  return storableText(`${text.slice(0, LAST_ERROR_MAX_CHARS - 1)}…`);
}

/** Most failed attempts `runner_info.attempts` keeps (the newest), and most characters of each message. */
export const ATTEMPTS_KEPT = 50;
const ATTEMPT_MESSAGE_MAX_CHARS = 1024;

/** `runner_info` with one more failed attempt recorded (the newest {@link ATTEMPTS_KEPT}, messages bounded). @internal */
export function withAttempt(task: Pick<MaintenanceTask, 'runnerInfo'>, entry: { attempt: number; at: string; reason: string; message: string }): TaskRunnerInfo {
  const attempts = [...(task.runnerInfo?.attempts ?? []), { ...entry, message: boundedText(entry.message, ATTEMPT_MESSAGE_MAX_CHARS) }];
  return { ...(task.runnerInfo ?? {}), attempts: attempts.slice(-ATTEMPTS_KEPT) };
}

/** `text` cut to `max` characters with an ellipsis (a cut surrogate pair becomes U+FFFD). @internal */
export function boundedText(text: string, max: number): string {
  return text.length <= max ? text : storableText(`${text.slice(0, max - 1)}…`);
}

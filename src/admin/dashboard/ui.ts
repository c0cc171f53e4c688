/// <reference lib="dom" />
// Small shared pieces: status badges, times, progress bars, error notes, confirmation.
import { h, type ComponentChildren, type VNode } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { readableError } from './api';

export function StatusBadge({ status }: { status: string }) {
  return h('span', { class: `badge status-${status.toLowerCase()}`, 'data-status': status }, status);
}

/** "4 min ago" (the exact time on hover); future times read "in 4 min". */
export function RelTime({ at }: { at: string | null | undefined }) {
  if (!at) return h('span', { class: 'muted' }, '—');
  const d = new Date(at);
  return h('time', { dateTime: at, title: d.toLocaleString() }, relative(d));
}

export function relative(d: Date, now = Date.now()): string {
  const s = Math.round((d.getTime() - now) / 1000);
  const abs = Math.abs(s);
  const text = abs < 5 ? 'now' : abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.round(abs / 60)} min` : abs < 86_400 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86_400)} d`;
  if (text === 'now') return 'just now';
  return s < 0 ? `${text} ago` : `in ${text}`;
}

export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

export interface ProgressInfo {
  done: number | null;
  total: number | null;
  /** Items per second, when known. */
  rate?: number | null;
  /** Seconds to go, when known. */
  etaS?: number | null;
}

/** A progress bar with its numbers; a real `<progress>` so assistive technology reads it. */
export function ProgressBar({ done, total, rate, etaS, compact }: ProgressInfo & { compact?: boolean }) {
  if (done === null || done === undefined) return h('span', { class: 'muted' }, compact ? '' : 'no progress reported');
  const pct = total ? Math.min(100, (done / total) * 100) : null;
  const label = total ? `${done.toLocaleString()} / ${total.toLocaleString()} (${pct!.toFixed(pct! < 10 ? 1 : 0)}%)` : `${done.toLocaleString()} done`;
  return h(
    'div',
    { class: compact ? 'progress compact' : 'progress', 'data-done': done, 'data-total': total ?? '' },
    h('progress', { max: total ?? undefined, value: total ? done : undefined, 'aria-label': `Progress: ${label}` }),
    h('span', { class: 'progress-label' }, label),
    !compact && rate ? h('span', { class: 'muted' }, ` · ${rate >= 10 ? Math.round(rate) : rate.toFixed(1)}/s`) : null,
    !compact && etaS !== null && etaS !== undefined && Number.isFinite(etaS) ? h('span', { class: 'muted' }, ` · ETA ${duration(etaS)}`) : null,
  );
}

/** An error as a readable message, announced to screen readers. */
export function ErrorNote({ error, onDismiss }: { error: unknown; onDismiss?: () => void }) {
  if (!error) return null;
  return h(
    'div',
    { class: 'error-note', role: 'alert' },
    h('span', null, readableError(error)),
    onDismiss ? h('button', { type: 'button', class: 'link', onClick: onDismiss, 'aria-label': 'Dismiss' }, '×') : null,
  );
}

export function Notice({ children, kind = 'info' }: { children?: ComponentChildren; kind?: 'info' | 'ok' | 'warn' }) {
  return h('div', { class: `notice notice-${kind}`, role: 'status' }, children);
}

export function Empty({ children }: { children?: ComponentChildren }) {
  return h('p', { class: 'empty' }, children);
}

export function Json({ value }: { value: unknown }) {
  return h('pre', { class: 'json' }, JSON.stringify(value, null, 2));
}

/** A definition list from label/value pairs (values null or undefined are skipped). */
export function Facts({ items }: { items: Array<[string, ComponentChildren]> }) {
  return h(
    'dl',
    { class: 'facts' },
    items.filter(([, v]) => v !== null && v !== undefined && v !== '').flatMap(([k, v]) => [h('dt', { key: `${k}-t` }, k), h('dd', { key: `${k}-d` }, v)]),
  );
}

interface ConfirmRequest {
  title: string;
  message: string;
  confirmLabel: string;
  danger: boolean;
  resolve: (ok: boolean) => void;
}

/**
 * Confirmation in a modal `<dialog>` (focus moves into it, Escape cancels). Returns the
 * dialog element to render and `ask`, which resolves true when the person confirms.
 */
export function useConfirm(): [VNode<any> | null, (title: string, message: string, options?: { confirmLabel?: string; danger?: boolean }) => Promise<boolean>] {
  const [req, setReq] = useState<ConfirmRequest | null>(null);
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (req && d && !d.open) d.showModal();
  }, [req]);
  const close = (ok: boolean) => {
    ref.current?.close();
    req?.resolve(ok);
    setReq(null);
  };
  const ask = (title: string, message: string, options: { confirmLabel?: string; danger?: boolean } = {}) =>
    new Promise<boolean>((resolve) => setReq({ title, message, confirmLabel: options.confirmLabel ?? 'Confirm', danger: options.danger ?? true, resolve }));
  const dialog = req
    ? h(
        'dialog',
        { ref, class: 'confirm', 'aria-labelledby': 'confirm-title', onCancel: (e: Event) => (e.preventDefault(), close(false)) },
        h('h2', { id: 'confirm-title' }, req.title),
        h('p', null, req.message),
        h(
          'div',
          { class: 'row end' },
          h('button', { type: 'button', onClick: () => close(false), autoFocus: true }, 'Keep it'),
          h('button', { type: 'button', class: req.danger ? 'danger' : 'primary', onClick: () => close(true) }, req.confirmLabel),
        ),
      )
    : null;
  return [dialog, ask];
}

/** Loads something on mount and when `deps` change; `reload` fetches again. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): { data: T | undefined; error: unknown; loading: boolean; reload: () => void; set: (t: T) => void } {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({ data: undefined, error: null, loading: true });
  const [nonce, setNonce] = useState(0);
  useEffect(() => {
    const ac = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    load(ac.signal).then(
      (data) => !ac.signal.aborted && setState({ data, error: null, loading: false }),
      (error) => !ac.signal.aborted && (error as Error)?.name !== 'AbortError' && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => ac.abort();
  }, [...deps, nonce]);
  return { ...state, reload: () => setNonce((n) => n + 1), set: (data: T) => setState({ data, error: null, loading: false }) };
}

/** Shortens a uuid for tables (the full id is in the link and its title). */
export function shortId(id: string): string {
  return id.length > 13 ? `${id.slice(0, 8)}…` : id;
}

/// <reference lib="dom" />
// Live updates from the admin API's Server-Sent Events stream (`GET /events`). Read with
// fetch rather than EventSource: the stream names each event by its type (`completed`,
// `audit`, `progress`, ...), which EventSource only delivers to listeners registered per
// name, and a fetch reconnect can send `Last-Event-ID` itself after any failure.
import { useEffect, useState } from 'preact/hooks';
import { apiUrl } from './api';

/** One event of the stream: a stored task event (with its id) or a progress update. */
export interface LiveEvent {
  /** SSE event name: a task event type (`started`, `completed`, `audit`, ...), `progress`, or `connected` (the stream (re)opened). */
  type: string;
  /** Row id of a stored event; absent on progress updates. */
  id?: number;
  data: {
    taskId?: string | null;
    done?: number | null;
    total?: number | null;
    at?: string;
    timestamp?: string;
    details?: Record<string, unknown> | null;
    [key: string]: unknown;
  };
}

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'off';

type Listener = (event: LiveEvent) => void;

const listeners = new Set<Listener>();
const stateListeners = new Set<(s: LiveState) => void>();
let state: LiveState = 'off';
let lastEventId: string | null = null;
let controller: AbortController | null = null;
let retryMs = 1000;
let failures = 0;

function setState(s: LiveState) {
  state = s;
  for (const l of stateListeners) l(s);
}

/** Splits an SSE byte stream into events (the spec's field rules: id, event, data, retry). */
function parseBlock(block: string): LiveEvent | null {
  let type = 'message';
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    // The admin API opens each stream with `: connected, after event N`: a resume point even
    // before the first stored event arrives, so a reconnect replays what happened meanwhile.
    const start = /^: connected, after event (\d+)/.exec(line);
    if (start && lastEventId === null) lastEventId = start[1]!;
    if (!line || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id') id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) retryMs = Math.max(500, Number(value));
  }
  if (id !== undefined) lastEventId = id;
  if (!data.length) return null;
  try {
    return { type, ...(id !== undefined ? { id: Number(id) } : {}), data: JSON.parse(data.join('\n')) };
  } catch {
    return null;
  }
}

async function connect(): Promise<void> {
  const ac = new AbortController();
  controller = ac;
  setState(failures ? 'reconnecting' : 'connecting');
  try {
    const res = await fetch(apiUrl('events'), {
      headers: { accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
      credentials: 'same-origin',
      cache: 'no-store',
      signal: ac.signal,
    });
    if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}`);
    setState('live');
    failures = 0;
    // Pages fetch again on (re)connect: whatever happened between their load and the stream's start is picked up.
    for (const l of [...listeners]) l({ type: 'connected', data: {} });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, '\n');
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const event = parseBlock(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (event) for (const l of [...listeners]) l(event);
      }
    }
  } catch {
    if (ac.signal.aborted) return;
  }
  if (ac.signal.aborted || controller !== ac) return;
  failures++;
  setState('reconnecting');
  // Back off exponentially from the server's `retry:` hint, to at most 30 s.
  const delay = Math.min(30_000, retryMs * 2 ** Math.min(failures - 1, 5));
  setTimeout(() => {
    if (controller === ac && listeners.size) void connect();
  }, delay);
}

function ensureOpen() {
  if (listeners.size && (!controller || controller.signal.aborted)) void connect();
  if (!listeners.size && controller) {
    controller.abort();
    controller = null;
    setState('off');
  }
}

/** Receives every live event while subscribed; the stream opens with the first subscriber. */
export function subscribe(listener: Listener): () => void {
  listeners.add(listener);
  ensureOpen();
  return () => {
    listeners.delete(listener);
    // Keep the stream a moment: the next page usually subscribes at once.
    setTimeout(ensureOpen, 1000);
  };
}

/** Calls `listener` on each live event while the component is mounted. */
export function useLive(listener: Listener, deps: unknown[] = []): void {
  useEffect(() => subscribe(listener), deps);
}

/** The stream's state, for the indicator in the header. */
export function useLiveState(): LiveState {
  const [s, setS] = useState<LiveState>(state);
  useEffect(() => {
    stateListeners.add(setS);
    setS(state);
    return () => void stateListeners.delete(setS);
  }, []);
  return s;
}

/** True while the tab is visible: charts and polling stop while it is hidden. */
export function useVisible(): boolean {
  const [visible, setVisible] = useState(document.visibilityState === 'visible');
  useEffect(() => {
    const update = () => setVisible(document.visibilityState === 'visible');
    document.addEventListener('visibilitychange', update);
    return () => document.removeEventListener('visibilitychange', update);
  }, []);
  return visible;
}

/** Runs `tick` every `ms` while the tab is visible (and once at once). */
export function usePolling(tick: () => void, ms: number, deps: unknown[] = []): void {
  const visible = useVisible();
  useEffect(() => {
    if (!visible) return;
    tick();
    const timer = setInterval(tick, ms);
    return () => clearInterval(timer);
  }, [visible, ...deps]);
}

/// <reference lib="dom" />
// A small client-side router on the History API. Paths are relative to the dashboard's base
// (`tasks/ID`, `audit`), so the dashboard works under any mount prefix. A route's query
// (filters, cursor) lives in the URL's fragment (`tasks#status=ERROR`): it survives a reload
// and a shared link, and never reaches the server, whose dashboard route takes no query.
import { h, type ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { DASH_BASE } from './api';

export interface Route {
  /** Path below the dashboard base, without a leading slash (`''`, `tasks/ID`). */
  path: string;
  /** The query string, parsed. */
  query: URLSearchParams;
}

const listeners = new Set<() => void>();

function current(): Route {
  const pathname = decodeURIComponent(location.pathname);
  const base = DASH_BASE.replace(/\/$/, '');
  const rest = pathname.startsWith(base) ? pathname.slice(base.length) : pathname;
  return { path: rest.replace(/^\/+|\/+$/g, ''), query: new URLSearchParams(location.hash.replace(/^#/, '')) };
}

/** The URL of a route written as `path?query` (the query goes into the fragment). */
export function hrefOf(to: string): string {
  const cut = to.indexOf('?');
  const path = cut < 0 ? to : to.slice(0, cut);
  const qs = cut < 0 ? '' : to.slice(cut + 1);
  const url = new URL(path, new URL(DASH_BASE, location.origin));
  url.hash = qs;
  return url.pathname + (qs ? `#${qs}` : '');
}

/** Goes to `to` (relative to the dashboard base, may carry a query); `replace` keeps history short. */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const url = new URL(hrefOf(to), location.origin);
  if (url.href === location.href) return;
  if (options.replace) history.replaceState(null, '', url.href);
  else history.pushState(null, '', url.href);
  for (const l of listeners) l();
}

/** Replaces the query of the current route (filters, cursors), keeping the path. */
export function setQuery(update: Record<string, string | null | undefined>, options: { replace?: boolean } = {}): void {
  const { path, query } = current();
  for (const [k, v] of Object.entries(update)) {
    if (v === null || v === undefined || v === '') query.delete(k);
    else query.set(k, v);
  }
  const qs = query.toString();
  navigate(`${path}${qs ? `?${qs}` : ''}`, options);
}

/** The current route; re-renders on navigation and on the browser's back/forward. */
export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    listeners.add(update);
    addEventListener('popstate', update);
    addEventListener('hashchange', update);
    return () => {
      listeners.delete(update);
      removeEventListener('popstate', update);
      removeEventListener('hashchange', update);
    };
  }, []);
  return route;
}

/** A real link (keyboard, middle-click and "open in new tab" work) that routes in place on a plain click. */
export function Link(props: { href: string; class?: string; children?: ComponentChildren; 'aria-current'?: 'page' | undefined; title?: string }) {
  const href = hrefOf(props.href);
  return h(
    'a',
    {
      href,
      class: props.class,
      title: props.title,
      'aria-current': props['aria-current'],
      onClick: (e: MouseEvent) => {
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(props.href);
      },
    },
    props.children,
  );
}

/// <reference lib="dom" />
// Small SVG charts: no chart library, a few hundred bytes each, colours from CSS variables.
import { h } from 'preact';

export interface Series {
  name: string;
  /** [time in ms, value] pairs, oldest first. */
  points: Array<[number, number]>;
}

const W = 480;
const H = 140;
const PAD = { left: 64, right: 8, top: 8, bottom: 20 };

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const fmt = (v: number) => (v === 0 ? '0' : v >= 10_000 ? `${Math.round(v / 1000)}k` : v >= 100 ? String(Math.round(v)) : v >= 1 ? v.toFixed(1).replace(/\.0$/, '') : v.toFixed(2));

/**
 * A line chart of one or more series over time. `max` fixes the y range (1 for a 0..1
 * utilization); `unit` labels the axis. Points are drawn as given: the caller decides
 * what to keep (a rolling window).
 */
export function LineChart({ series, label, unit = '', max, percent, empty = 'no data yet' }: { series: Series[]; label: string; unit?: string; max?: number; percent?: boolean; empty?: string }) {
  const all = series.flatMap((s) => s.points);
  if (!all.length) return h('div', { class: 'chart empty-chart', role: 'img', 'aria-label': `${label}: ${empty}` }, h('span', { class: 'muted' }, empty));
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(...all.map((p) => p[0]), t0 + 1);
  const yMax = max ?? niceMax(Math.max(...all.map((p) => p[1])));
  const x = (t: number) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (1 - Math.min(v, yMax) / yMax) * (H - PAD.top - PAD.bottom);
  const tick = (v: number) => (percent ? `${Math.round(v * 100)}%` : `${fmt(v)}${unit ? ` ${unit}` : ''}`);
  const latest = series.map((s) => `${s.name} ${s.points.length ? tick(s.points[s.points.length - 1]![1]) : '—'}`).join(', ');
  return h(
    'figure',
    { class: 'chart' },
    h(
      'svg',
      { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${label}: latest ${latest}`, preserveAspectRatio: 'none' },
      [0, 0.5, 1].map((f) =>
        h('g', { key: f }, h('line', { class: 'grid', x1: PAD.left, x2: W - PAD.right, y1: y(yMax * f), y2: y(yMax * f) }), h('text', { class: 'axis', x: PAD.left - 4, y: y(yMax * f) + 4, 'text-anchor': 'end' }, tick(yMax * f))),
      ),
      h('text', { class: 'axis', x: PAD.left, y: H - 4 }, new Date(t0).toLocaleTimeString()),
      h('text', { class: 'axis', x: W - PAD.right, y: H - 4, 'text-anchor': 'end' }, new Date(t1).toLocaleTimeString()),
      series.map((s, i) =>
        s.points.length === 1
          ? h('circle', { key: s.name, class: `series s${i % 6}`, cx: x(s.points[0]![0]), cy: y(s.points[0]![1]), r: 3 })
          : h('polyline', { key: s.name, class: `series s${i % 6}`, points: s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ') }),
      ),
    ),
    h(
      'figcaption',
      null,
      h('strong', null, label),
      series.map((s, i) => h('span', { key: s.name, class: 'legend' }, h('i', { class: `swatch s${i % 6}` }), `${s.name}: ${s.points.length ? tick(s.points[s.points.length - 1]![1]) : '—'}`)),
    ),
  );
}

/** A horizontal meter (0..1) with its percentage, for one pool's utilization. */
export function Meter({ value, label }: { value: number; label: string }) {
  const pct = Math.round(Math.max(0, Math.min(1, value)) * 100);
  return h('div', { class: 'meter-row' }, h('span', { class: 'meter-label' }, label), h('meter', { min: 0, max: 1, low: 0.7, high: 0.9, optimum: 0.3, value, 'aria-label': `${label} ${pct}%` }), h('span', { class: 'num' }, `${pct}%`));
}

/** Keeps a rolling window of samples per key. */
export function pushSample(history: Record<string, Array<[number, number]>>, key: string, t: number, v: number, keep = 90): void {
  const list = (history[key] ??= []);
  list.push([t, v]);
  if (list.length > keep) list.splice(0, list.length - keep);
}

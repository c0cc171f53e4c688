// The ratios chart: Vega (https://vega.github.io/vega/usage/#node) renders the spec to
// SVG in Node with its headless 'none' renderer: no browser, no canvas package.
import * as vega from 'vega';
import { sig } from './util';

export interface RatioBar {
  /** e.g. "processing after bulk enqueue" */
  metric: string;
  /** e.g. "÷ graphile-worker" */
  peer: string;
  ratio: number;
  /** The issue's target for this ratio, when it has one. */
  target?: number;
  /** true when a smaller figure is better (latency, statements). */
  lowerIsBetter?: boolean;
}

export async function ratiosSvg(title: string, subtitle: string, bars: RatioBar[]): Promise<string> {
  const values = bars
    .filter((b) => Number.isFinite(b.ratio) && b.ratio > 0)
    .map((b) => {
      const met = b.target === undefined ? undefined : b.lowerIsBetter ? b.ratio <= b.target : b.ratio >= b.target;
      return {
        label: `${b.metric}${b.lowerIsBetter ? ' (lower = better)' : ''} ${b.peer}`,
        ratio: b.ratio,
        text: `${sig(b.ratio)}×${b.target === undefined ? '' : `  (target ${b.lowerIsBetter ? '≤' : '≥'} ${b.target}×: ${met ? 'met' : 'missed'})`}`,
        target: b.target ?? null,
        status: met === undefined ? 'no target' : met ? 'target met' : 'target missed',
      };
    });
  const rowHeight = 22;
  const spec: vega.Spec = {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width: 460,
    height: Math.max(rowHeight, values.length * rowHeight),
    padding: { left: 10, right: 240, top: 10, bottom: 10 },
    title: { text: title, subtitle, anchor: 'start', fontSize: 14, subtitleFontSize: 11 },
    data: [{ name: 'bars', values }],
    scales: [
      { name: 'y', type: 'band', domain: { data: 'bars', field: 'label' }, range: 'height', padding: 0.2 },
      { name: 'x', type: 'log', domain: [0.01, 100], range: 'width', clamp: true },
      { name: 'color', type: 'ordinal', domain: ['target met', 'target missed', 'no target'], range: ['#2f855a', '#c05621', '#718096'] },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: 'upkeep ÷ peer (log scale; 1 = equal)', values: [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100], format: '~g', grid: true },
      // Text is measured by estimate without a canvas: a generous limit keeps labels whole.
      { orient: 'left', scale: 'y', labelLimit: 1000, labelFontSize: 10 },
    ],
    legends: [{ fill: 'color', orient: 'bottom', direction: 'horizontal' }],
    marks: [
      {
        type: 'rect',
        from: { data: 'bars' },
        encode: {
          enter: {
            y: { scale: 'y', field: 'label' },
            height: { scale: 'y', band: 1 },
            x: { scale: 'x', value: 1 },
            x2: { scale: 'x', field: 'ratio' },
            fill: { scale: 'color', field: 'status' },
          },
        },
      },
      {
        type: 'rule',
        from: { data: 'bars' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'target' },
            y: { scale: 'y', field: 'label' },
            y2: { scale: 'y', field: 'label', offset: { scale: 'y', band: 1 } },
            stroke: { value: '#1a202c' },
            strokeWidth: { value: 2 },
            strokeDash: { value: [3, 2] },
            opacity: { signal: 'datum.target === null ? 0 : 1' },
          },
        },
      },
      {
        type: 'text',
        from: { data: 'bars' },
        encode: {
          enter: {
            x: { signal: 'width + 6' },
            y: { scale: 'y', field: 'label', band: 0.5 },
            baseline: { value: 'middle' },
            text: { field: 'text' },
            fontSize: { value: 10 },
            fill: { value: '#1a202c' },
          },
        },
      },
      { type: 'rule', encode: { enter: { x: { scale: 'x', value: 1 }, y: { value: 0 }, y2: { signal: 'height' }, stroke: { value: '#1a202c' } } } },
    ],
  };
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

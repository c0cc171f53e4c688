// Turns the rounds into medians, ratios (upkeep ÷ peer), the issue's target checks and
// the tables printed at the end of a run.
import type { BacklogFigures } from '../backlog';
import type { RatioBar } from './chart';
import type { RoundFigures, ScenarioSizes } from './scenario';
import { fmt, median, sig, table } from './util';

export interface Results {
  startedAt: string;
  command: string;
  quick: boolean;
  machine: ReturnType<typeof import('./util').machine>;
  loadAverageAtStart: [number, number, number];
  loadAverageAtEnd?: [number, number, number];
  durationS?: number;
  rounds: number;
  sizes: ScenarioSizes;
  otherDatabaseTasks: number;
  budgetS: number;
  backlogTasks: number;
  errors?: string[];
  databases: Partial<Record<'postgres' | 'mariadb' | 'sqlite', string>>;
  config: Record<string, unknown>;
  postgres: { rounds: Record<string, RoundFigures[]> };
  mariadb?: { rounds: Record<string, RoundFigures[]> };
  sqlite?: { rounds: Record<string, RoundFigures[]> };
  /** `${pool}|${borrowers}` -> ops/s per round. */
  pool: Record<string, number[]>;
  backlog?: BacklogFigures;
  /** process.getActiveResourcesInfo() counts after each database section (leaked timers/sockets show here). */
  activeResources?: Record<string, Record<string, number>>;
}

type Metric = keyof Omit<RoundFigures, 'errors' | 'latencySamples'>;
const METRICS: Array<{ key: Metric; label: string; unit: string; lower?: boolean; digits?: number }> = [
  { key: 'singleEnqueue', label: 'single enqueue (10 producers)', unit: '/s' },
  { key: 'processAfterSingle', label: 'processing after single enqueue', unit: '/s' },
  { key: 'bulkEnqueue', label: 'bulk enqueue (1,000 per call)', unit: '/s' },
  { key: 'processAfterBulk', label: 'processing after bulk enqueue', unit: '/s' },
  { key: 'statementsPerTask', label: 'commits per task while processing', unit: '', lower: true, digits: 4 },
  { key: 'latencyP50', label: 'start latency p50', unit: ' ms', lower: true, digits: 1 },
  { key: 'latencyP95', label: 'start latency p95', unit: ' ms', lower: true, digits: 1 },
  { key: 'latencyMax', label: 'start latency max', unit: ' ms', lower: true, digits: 1 },
];

export interface Target {
  what: string;
  figure: string;
  target: string;
  met: boolean | null;
}

function medians(rounds: Record<string, RoundFigures[]>): Record<string, Partial<Record<Metric, number>>> {
  const out: Record<string, Partial<Record<Metric, number>>> = {};
  for (const [name, list] of Object.entries(rounds)) {
    out[name] = {};
    for (const m of METRICS) {
      const values = list.map((r) => r[m.key]).filter((v): v is number => typeof v === 'number');
      if (values.length) out[name]![m.key] = median(values);
    }
  }
  return out;
}

const cell = (v: number | undefined, digits = 0, unit = '') => (v === undefined || !Number.isFinite(v) ? '—' : `${fmt(v, digits)}${unit}`);

export function buildReport(results: Results) {
  const lines: string[] = [];
  const md: string[] = [];
  const both = (...xs: string[]) => {
    lines.push(...xs);
    for (const x of xs) md.push(x.replace(/^  /, '- '), x.startsWith('  ') ? '' : '');
  };
  const tbl = (rows: string[][]) => {
    md.push('', `| ${rows[0]!.join(' | ')} |`, `|${rows[0]!.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`, ...rows.slice(1).map((r) => `| ${r.join(' | ')} |`), '');
    return table(rows);
  };
  const bars: RatioBar[] = [];
  const targets: Target[] = [];
  const allMedians: Record<string, unknown> = {};
  const check = (what: string, value: number, target: number, lowerIsBetter = false, unit = '×') => {
    const met = !Number.isFinite(value) ? null : lowerIsBetter ? value <= target : value >= target;
    targets.push({ what, figure: Number.isFinite(value) ? `${sig(value)}${unit}` : '—', target: `${lowerIsBetter ? '≤' : '≥'} ${target}${unit}`, met });
  };

  const pgNames = Object.keys(results.postgres.rounds);
  if (pgNames.length) {
    const med = medians(results.postgres.rounds);
    allMedians.postgres = med;
    const peers = pgNames.filter((n) => !n.startsWith('upkeep'));
    const up = med.upkeep ?? {};
    both(`PostgreSQL: medians of ${results.rounds} round(s); ${fmt(results.sizes.tasks)} tasks processed after bulk enqueue, ${fmt(results.sizes.single)} after single enqueue; concurrency 10; ${results.config.analyzeAfterEnqueue === false ? 'no ANALYZE (tables without statistics)' : 'ANALYZE after each enqueue phase'}`);
    lines.push(
      tbl([
        ['measure', ...pgNames, ...peers.map((p) => `upkeep ÷ ${p}`)],
        ...METRICS.map((m) => [
          `${m.label}${m.unit === '/s' ? ' (tasks/s)' : m.unit ? ` (${m.unit.trim()})` : ''}`,
          ...pgNames.map((n) => cell(med[n]![m.key], m.digits ?? 0)),
          ...peers.map((p) => {
            const a = up[m.key];
            const b = med[p]![m.key];
            return a !== undefined && b !== undefined && b !== 0 ? `${sig(a / b)}×` : '—';
          }),
        ]),
      ]),
    );
    const errors = Object.entries(results.postgres.rounds).flatMap(([n, rs]) => rs.flatMap((r, i) => (r.errors ?? []).map((e) => `  ${n} round ${i + 1}: ${e}`)));
    if (errors.length) both('errors:', ...errors);
    const capped = Object.entries(results.postgres.rounds).flatMap(([n, rs]) => rs.flatMap((r, i) => (r.capped ?? []).map((c) => `${n} round ${i + 1} ${c}`)));
    if (capped.length) both(`capped at ${results.sizes.processCapS} s (rate over the completions stored by then): ${capped.join('; ')}`);
    const latencyN = Object.entries(results.postgres.rounds).map(([n, rs]) => `${n} ${rs.map((r) => r.latencySamples ?? 0).join('/')}`);
    both(`start-latency samples per round: ${latencyN.join('; ')}`);
    both('');

    const ratio = (metric: Metric, peer: string) => (up[metric] ?? Number.NaN) / (med[peer]?.[metric] ?? Number.NaN);
    const targetFor: Partial<Record<string, number>> = {
      'processAfterBulk|graphile-worker': 1.5,
      'processAfterSingle|graphile-worker': 1.5,
      'processAfterBulk|pg-boss': 3,
      'processAfterSingle|pg-boss': 3,
      'processAfterBulk|raw SQL': 0.6,
      'bulkEnqueue|graphile-worker': 1,
      'latencyP50|graphile-worker': 1,
    };
    for (const m of METRICS) {
      if (m.key === 'latencyP95') continue;
      for (const p of peers) {
        const r = ratio(m.key, p);
        if (!Number.isFinite(r)) continue;
        bars.push({ metric: m.label, peer: `÷ ${p}`, ratio: r, target: targetFor[`${m.key}|${p}`], lowerIsBetter: m.lower });
      }
    }
    for (const [key, target] of Object.entries(targetFor)) {
      const [metric, peer] = key.split('|') as [Metric, string];
      if (!med[peer]) continue;
      const label = METRICS.find((m) => m.key === metric)!.label;
      check(`${label}: upkeep ÷ ${peer}`, ratio(metric, peer), target!, metric === 'latencyP50');
    }
    check('start latency max (upkeep)', up.latencyMax ?? Number.NaN, 50, true, ' ms');
  }

  for (const which of ['mariadb', 'sqlite'] as const) {
    const section = results[which];
    if (!section) continue;
    const med = medians(section.rounds);
    allMedians[which] = med;
    const up = med.upkeep ?? {};
    const raw = med['raw SQL'] ?? {};
    const r = (up.processAfterBulk ?? Number.NaN) / (raw.processAfterBulk ?? Number.NaN);
    both(`${which === 'mariadb' ? 'MariaDB' : 'SQLite'}: medians of ${results.rounds} round(s), ${fmt(results.otherDatabaseTasks)} tasks`);
    lines.push(
      tbl([
        ['measure', 'upkeep', 'raw SQL', 'upkeep ÷ raw SQL'],
        ['bulk enqueue (tasks/s)', cell(up.bulkEnqueue), '—', '—'],
        ['processing after bulk enqueue (tasks/s)', cell(up.processAfterBulk), cell(raw.processAfterBulk), Number.isFinite(r) ? `${sig(r)}×` : '—'],
      ]),
    );
    const errors = Object.entries(section.rounds).flatMap(([n, rs]) => rs.flatMap((x, i) => (x.errors ?? []).map((e) => `  ${n} round ${i + 1}: ${e}`)));
    const capped = section.rounds.upkeep?.flatMap((x, i) => (x.capped ?? []).map((c) => `round ${i + 1} ${c}`)) ?? [];
    if (capped.length) both(`capped at ${results.sizes.processCapS} s: ${capped.join('; ')}`);
    if (errors.length) both('errors:', ...errors);
    both('');
    if (Number.isFinite(r)) bars.push({ metric: `${which === 'mariadb' ? 'MariaDB' : 'SQLite'} processing`, peer: '÷ raw SQL', ratio: r });
  }

  const poolKeys = Object.keys(results.pool);
  if (poolKeys.length) {
    const med = Object.fromEntries(poolKeys.map((k) => [k, median(results.pool[k]!)]));
    allMedians.pool = med;
    const borrowers = [...new Set(poolKeys.map((k) => Number(k.split('|')[1])))].sort((a, b) => a - b);
    both(`Pools: acquire+release per second over 10 instances, medians of ${results.rounds} round(s)`);
    lines.push(
      tbl([
        ['borrowers', 'ServicePool', 'generic-pool', 'tarn', 'ServicePool ÷ generic-pool', 'ServicePool ÷ tarn'],
        ...borrowers.map((b) => {
          const sp = med[`ServicePool|${b}`]!;
          const gp = med[`generic-pool|${b}`]!;
          const tn = med[`tarn|${b}`]!;
          const x = (v: number) => (Number.isFinite(v) ? `${sig(v)}×` : '—');
          return [String(b), fmt(sp), fmt(gp), fmt(tn), x(sp / gp), x(sp / tn)];
        }),
      ]),
    );
    both('');
    for (const b of borrowers) {
      const sp = med[`ServicePool|${b}`]!;
      for (const peer of ['generic-pool', 'tarn']) {
        const r = sp / med[`${peer}|${b}`]!;
        bars.push({ metric: `ServicePool, ${b} borrower${b === 1 ? '' : 's'}`, peer: `÷ ${peer}`, ratio: r, target: 2 });
        check(`ServicePool ÷ ${peer}, ${b} borrower${b === 1 ? '' : 's'}`, r, 2);
      }
    }
  }

  const bl = results.backlog;
  if (bl) {
    const base = (medians(results.postgres.rounds).upkeep ?? {}).processAfterBulk;
    both(`Backlog: ${fmt(bl.tasks)} tasks on PostgreSQL, one runner at default settings`);
    lines.push(
      tbl([
        ['measure', 'value'],
        ['bulk enqueue (tasks/s)', fmt(bl.enqueueRate)],
        ['drain rate, whole backlog (tasks/s)', fmt(bl.drainRate)],
        [`drain rate, first ${fmt(bl.firstSlice)} (tasks/s)`, fmt(bl.firstSliceRate)],
        [`drain rate, last ${fmt(bl.firstSlice)} (tasks/s)`, fmt(bl.lastSliceRate)],
        [`${fmt(results.sizes.tasks)}-task rate from the rounds (tasks/s)`, cell(base)],
        ['RSS at drain start / peak / end (MB)', `${bl.rssMb.drainStart} / ${bl.rssMb.peak} / ${bl.rssMb.end}`],
        ['heap used at drain start / peak / end (MB)', `${bl.heapUsedMb.drainStart} / ${bl.heapUsedMb.peak} / ${bl.heapUsedMb.end}`],
      ]),
    );
    if (bl.capped) both(`drain CAPPED at ${bl.capS} s (the run's time budget) with ${fmt(bl.drained)} of ${fmt(bl.tasks)} stored as finished (${fmt(bl.runsAtEnd ?? bl.drained)} handler runs): rates are over those stored`);
    if (bl.error) both(`error: ${bl.error}`);
    both('');
    if (base !== undefined) {
      bars.push({ metric: `backlog ${fmt(bl.tasks)} drain`, peer: `÷ ${fmt(results.sizes.tasks)}-task rate`, ratio: bl.drainRate / base, target: 1 });
      check(`backlog drain ÷ ${fmt(results.sizes.tasks)}-task rate`, bl.drainRate / base, 1);
    }
  }

  if (results.errors?.length) both('errors outside the phases:', ...results.errors.map((e) => `  ${e}`), '');
  if (targets.length) {
    both("Issue 8 targets (upkeep with default settings)");
    lines.push(tbl([['target', 'figure', 'wanted', ''], ...targets.map((t) => [t.what, t.figure, t.target, t.met === null ? 'no figure' : t.met ? 'met' : 'MISSED'])]));
  }
  return { text: lines.join('\n'), markdown: md.join('\n'), medians: allMedians, bars, targets };
}

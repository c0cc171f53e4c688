import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT, runCli } from '../../../src/cli';
import { parseDuration } from '../../../src/cli/cli-output';

const dir = mkdtempSync(join(tmpdir(), 'upkeep-cli-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** runCli with captured output, in `cwd`. */
async function run(args: string[], cwd = dir) {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: { write: (s: string) => (out += s), isTTY: false }, err: { write: (s: string) => (err += s) }, cwd });
  return { code, out, err };
}

describe('runCli (src/cli)', () => {
  it('--help and --version exit 0; no command, an unknown command or option exit 2 (usage)', async () => {
    expect((await run(['--help'])).code).toBe(EXIT.OK);
    expect((await run(['--version'])).out).toMatch(/^\d+\.\d+\.\d+/);
    expect((await run([])).code).toBe(EXIT.USAGE);
    const unknown = await run(['statsu']);
    expect(unknown.code).toBe(EXIT.USAGE);
    expect(unknown.err).toContain("unknown command 'statsu'");
    expect(unknown.err).toContain('status'); // the suggestion
    expect((await run(['status', '--colour'])).code).toBe(EXIT.USAGE);
    expect((await run(['show'])).err).toContain("missing required argument 'id'");
    expect((await run(['prune', '--completed', 'soon'])).err).toContain('--completed must be a duration');
  });

  it('a missing or invalid config is exit 5 with a message naming the file and what is wrong', async () => {
    const missing = await run(['status']);
    expect(missing.code).toBe(EXIT.CONFIG);
    expect(missing.err).toContain(`in ${dir}`);
    writeFileSync(join(dir, 'upkeep.config.mjs'), 'export default { dataSource: 42 };\n');
    const bad = await run(['status']);
    expect(bad.code).toBe(EXIT.CONFIG);
    expect(bad.err).toMatch(/upkeep\.config\.mjs: dataSource must be a TypeORM DataSource \(got number\)/);
    writeFileSync(join(dir, 'broken.mjs'), 'export default {;\n');
    const broken = await run(['status', '--config', 'broken.mjs']);
    expect(broken.code).toBe(EXIT.CONFIG);
    expect(broken.err).toContain('could not load');
  });

  it('parseDuration reads ms, s, m, h, d and plain milliseconds; anything else is null', () => {
    expect(['500ms', '30s', '15m', '2h', '7d', '250', '1.5s'].map(parseDuration)).toEqual([500, 30_000, 900_000, 7_200_000, 604_800_000, 250, 1500]);
    expect(parseDuration('soon')).toBeNull();
    expect(parseDuration('-5s')).toBeNull();
  });
});

// Type-checks every ```ts / ```typescript snippet in README.md and docs/**/*.md against the
// sources (`upkeep` and its subpaths map to src/), so the docs cannot drift from the code.
//
// Conventions (summed up in docs/README.md, "Docs that compile"):
// - Each snippet is its own module, read the way a person reads the page: a name it uses
//   without importing or declaring it is taken from an earlier snippet of the same page (its
//   declarations and imports), else from `upkeep`'s entries, else from typeorm,
//   class-validator or class-transformer (the import is added at the end of the file, so line
//   numbers stay true). Placeholders for the host's own code (`upgradeUser`, `log`, `alert`)
//   are declared in scripts/docs-snippets/globals.d.ts.
// - ```ts expect-error : the snippet shows a mistake and must NOT compile (or use a
//   `// @ts-expect-error` line, which TypeScript itself checks).
// - ```ts file=NAME.ts : the snippet is saved as NAME.ts, so later snippets of the same page can
//   import it as './NAME.js'.
// - <!-- check-docs ... --> (an HTML comment, so readers do not see it): declarations of the
//   page's placeholders (`declare const rows: Row[];`), visible to the snippets after it.
// - <!-- check-docs file=NAME.ts ... --> : a hidden module (checked like a snippet), for a
//   snippet that imports the host's own files (`import { dataSource } from './data-source.js'`).
// - The host's `req.user` (what its auth middleware adds) is declared in globals.d.ts.
// - Relative imports carry their `.js` extension (what `moduleResolution: nodenext` needs).
// - Every code block names its language; code that is not TypeScript says what it is (sh, json, text).
// - Links: README.md (also the npm page) links into the repository by absolute URL; every link
//   into the repository names a file that exists and a heading the page has.
// Usage: node scripts/check-docs-snippets.mjs [FILES...]   (exit 1 when a snippet fails)
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mdFiles = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? mdFiles(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : []));
const targets = process.argv.slice(2).length ? process.argv.slice(2).map((f) => join(process.cwd(), f)) : [join(root, 'README.md'), ...mdFiles(join(root, 'docs'))];

/** Snippets of one markdown file: language tag flags, first line number, code. */
function snippets(file) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const found = [];
  for (let i = 0; i < lines.length; i++) {
    if (/^\s*<!--\s*check-docs\b/.test(lines[i])) {
      // `<!-- check-docs file=NAME.ts` is a hidden module later snippets import as './NAME.js'.
      const file = /^\s*<!--\s*check-docs\s+(file=\S+\.ts)\b/.exec(lines[i])?.[1];
      const body = [lines[i].replace(/^\s*<!--\s*check-docs(\s+file=\S+\.ts)?/, '')];
      let j = i;
      while (!/-->\s*$/.test(body[body.length - 1]) && j + 1 < lines.length) body.push(lines[++j]);
      body[body.length - 1] = body[body.length - 1].replace(/-->\s*$/, '');
      found.push({ line: i + 1, flags: file ? [file] : ['context'], code: body.join('\n') });
      i = j;
      continue;
    }
    const open = /^(\s*)```(ts|typescript)(?:\s+(.*))?$/.exec(lines[i]);
    if (!open) continue;
    const indent = open[1].length;
    const flags = (open[3] ?? '').split(/\s+/).filter(Boolean);
    const body = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]); j++) body.push(lines[j].slice(indent));
    found.push({ line: i + 2, flags, code: body.join('\n') });
    i = j;
  }
  return found;
}

// `upkeep` and every subpath of package.json "exports" resolve to the sources.
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const paths = {};
for (const [subpath, target] of Object.entries(pkg.exports)) {
  const types = typeof target === 'object' ? (target.import?.types ?? target.types) : undefined;
  if (!types) continue;
  paths[subpath === '.' ? 'upkeep' : `upkeep/${subpath.slice(2)}`] = [join(root, types.replace(/^\.\/dist\//, 'src/').replace(/\.d\.ts$/, '.ts'))];
}

// Inside the repository, so snippets resolve typeorm, class-validator, ... from its node_modules.
mkdirSync(join(root, 'node_modules', '.cache'), { recursive: true });
const work = mkdtempSync(join(root, 'node_modules', '.cache', 'upkeep-doc-snippets-'));
const entries = []; // { path, source: `${doc}:${line}`, expectError, code }
const problems = [];
let counter = 0;
for (const doc of targets) {
  const rel = relative(root, doc);
  const dir = join(work, String(counter++).padStart(3, '0'));
  mkdirSync(dir);
  for (const [index, s] of snippets(doc).entries()) {
    const named = s.flags.find((f) => f.startsWith('file='))?.slice(5);
    const path = join(dir, named ?? `snippet-${index + 1}.ts`);
    const source = `${rel}:${s.line}`;
    for (const [n, text] of s.code.split('\n').entries()) {
      const m = /from\s+['"](\.{1,2}\/[^'"]+)['"]/.exec(text);
      if (m && !/\.(js|mjs|cjs|json)$/.test(m[1])) problems.push(`${rel}:${s.line + n}: relative import '${m[1]}' has no extension (nodenext needs '${m[1]}.js')`);
    }
    // `export {}` keeps every snippet a module, so its names never clash with globals.d.ts.
    writeFileSync(path, `${s.code}\nexport {};\n`);
    entries.push({ path, source, expectError: s.flags.includes('expect-error'), skip: s.flags.includes('ignore'), context: s.flags.includes('context') });
  }
}

const options = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ['lib.es2023.d.ts', 'lib.esnext.disposable.d.ts', 'lib.dom.d.ts'],
  types: ['node'],
  typeRoots: [join(root, 'node_modules', '@types')],
  strict: true,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  useDefineForClassFields: false,
  esModuleInterop: true,
  skipLibCheck: true,
  resolveJsonModule: true,
  isolatedModules: true,
  noEmit: true,
  baseUrl: root,
  paths,
};
const checked = entries.filter((e) => !e.skip && !e.context);
const globals = join(root, 'scripts', 'docs-snippets', 'globals.d.ts');
const ambientModules = join(root, 'scripts', 'docs-snippets', 'modules.d.ts');
const LIBRARIES = ['typeorm', 'class-validator', 'class-transformer', 'node:fs', 'node:path'];

// Pass 1: every snippet alone, plus a probe that lists what upkeep and the libraries export.
const probe = join(work, 'probe.ts');
writeFileSync(probe, [...Object.keys(paths), ...LIBRARIES].map((m, i) => `import * as m${i} from '${m}';\nexport { m${i} };`).join('\n'));
const UNRESOLVED = new Set([2304, 2552, 18004, 2503, 2580]);
// Both passes share one host that keeps every parsed file outside the work folder (src/, the
// libraries' .d.ts), so pass 2 parses only the snippets again. Diagnostics are asked of the
// snippets alone: the checker then looks into src/ only as far as they use it (all of src/ is
// `npm run typecheck`'s business), which keeps the check to seconds.
const host = ts.createCompilerHost(options);
const parsed = new Map();
const readSource = host.getSourceFile.bind(host);
host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
  if (fileName.startsWith(work)) return readSource(fileName, languageVersion, onError, shouldCreate);
  if (!parsed.has(fileName)) parsed.set(fileName, readSource(fileName, languageVersion, onError, shouldCreate));
  return parsed.get(fileName);
};
function compile(files, oldProgram) {
  const program = ts.createProgram([...files, globals, ambientModules, probe], options, host, oldProgram);
  const diagnostics = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()];
  for (const f of files) {
    const sf = program.getSourceFile(f);
    diagnostics.push(...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf));
  }
  return { program, diagnostics };
}
const first = compile(checked.map((e) => e.path));
const exportsOf = new Map(); // name -> module
{
  const checker = first.program.getTypeChecker();
  const sf = first.program.getSourceFile(probe);
  const modules = [...Object.keys(paths), ...LIBRARIES];
  for (const stmt of sf.statements) {
    if (!ts.isImportDeclaration(stmt)) continue;
    const spec = stmt.moduleSpecifier.text;
    const sym = checker.getSymbolAtLocation(stmt.moduleSpecifier);
    if (!sym) continue;
    for (const e of checker.getExportsOfModule(sym)) if (!exportsOf.has(e.name)) exportsOf.set(e.name, spec);
  }
  void modules;
}

/** Top-level declarations and imported bindings of a snippet: name -> { text, kind }. */
function declarationsOf(path) {
  const sf = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out = new Map();
  for (const stmt of sf.statements) {
    if (ts.isImportDeclaration(stmt)) {
      const clause = stmt.importClause;
      const text = stmt.getText(sf);
      if (clause?.name) out.set(clause.name.text, { kind: 'import', text });
      const nb = clause?.namedBindings;
      if (nb && ts.isNamespaceImport(nb)) out.set(nb.name.text, { kind: 'import', text });
      if (nb && ts.isNamedImports(nb)) for (const el of nb.elements) out.set(el.name.text, { kind: 'import', text: `import ${stmt.importClause.isTypeOnly || el.isTypeOnly ? 'type ' : ''}{ ${el.propertyName ? `${el.propertyName.text} as ` : ''}${el.name.text} } from ${stmt.moduleSpecifier.getText(sf)};` });
      continue;
    }
    const names = [];
    if ((ts.isClassDeclaration(stmt) || ts.isFunctionDeclaration(stmt) || ts.isInterfaceDeclaration(stmt) || ts.isTypeAliasDeclaration(stmt) || ts.isEnumDeclaration(stmt)) && stmt.name) names.push(stmt.name.text);
    if (ts.isVariableStatement(stmt)) for (const d of stmt.declarationList.declarations) if (ts.isIdentifier(d.name)) names.push(d.name.text);
    if (!names.length) continue;
    const text = stmt.getText(sf);
    const exported = /^(\s*@[^\n]*\n)*\s*export\s/.test(text) || text.startsWith('export ');
    // Decorators come before `export`: insert it after them.
    const withExport = exported ? text : text.replace(/^((?:\s*@[\s\S]*?\)\s*\n)*)(\s*)/, (_, decorators, space) => `${decorators}${space}export `);
    for (const n of names) out.set(n, { kind: 'declaration', text: withExport });
  }
  return out;
}

// Pass 2: each snippet imports what it lacks from earlier snippets of its page (a context
// module per snippet), from upkeep, or from the libraries.
const unresolved = new Map(checked.map((e) => [e.path, new Set()]));
for (const d of first.diagnostics) {
  if (!d.file || !UNRESOLVED.has(d.code) || !unresolved.has(d.file.fileName)) continue;
  const name = /'([^']+)'/.exec(ts.flattenDiagnosticMessageText(d.messageText, ' '))?.[1];
  if (name) unresolved.get(d.file.fileName).add(name);
}
const pages = new Map();
for (const e of entries.filter((x) => !x.skip)) {
  const dir = dirname(e.path);
  if (!pages.has(dir)) pages.set(dir, []);
  pages.get(dir).push(e);
}
for (const [dir, list] of pages) {
  const seen = new Map(); // name -> { kind, text } from earlier snippets (latest wins)
  for (const [k, e] of list.entries()) {
    if (e.context) {
      for (const [n, v] of declarationsOf(e.path)) seen.set(n, v);
      continue;
    }
    const missing = [...unresolved.get(e.path)];
    const fromContext = missing.filter((n) => seen.has(n));
    const lines = [];
    if (fromContext.length) {
      const ctxPath = join(dir, `context-${k}.ts`);
      const body = [...new Set([...seen.values()].filter((v) => v.kind === 'import').map((v) => v.text))];
      const decls = [...new Set([...seen.values()].filter((v) => v.kind === 'declaration').map((v) => v.text))];
      const reexports = [...seen.entries()].filter(([, v]) => v.kind === 'import').map(([n]) => n);
      writeFileSync(ctxPath, `${body.join('\n')}\n${decls.join('\n\n')}\nexport { ${reexports.join(', ')} };\n`);
      lines.push(`import { ${fromContext.join(', ')} } from './context-${k}.js';`);
    }
    const byModule = new Map();
    for (const n of missing.filter((m) => !seen.has(m) && exportsOf.has(m))) {
      const mod = exportsOf.get(n);
      if (!byModule.has(mod)) byModule.set(mod, []);
      byModule.get(mod).push(n);
    }
    for (const [mod, names] of byModule) lines.push(`import { ${names.join(', ')} } from '${mod}';`);
    if (lines.length) writeFileSync(e.path, `${readFileSync(e.path, 'utf8')}${lines.join(' ')}\n`);
    for (const [n, v] of declarationsOf(e.path)) if (!(v.kind === 'import' && v.text.includes('./context-'))) seen.set(n, v);
  }
}
const second = compile(checked.map((e) => e.path), first.program);
// The check runs on the sources, before any build: a file of dist/ in the program means an
// import that bypassed the `paths` above.
for (const f of second.program.getSourceFiles()) if (f.fileName.startsWith(join(root, 'dist') + '/')) problems.push(`TypeScript: a snippet resolved ${relative(root, f.fileName)}; check:docs must read src/, not a build`);
const bySnippet = new Map(checked.map((e) => [e.path, []]));
for (const d of second.diagnostics) {
  if (!d.file) {
    problems.push(`TypeScript: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    continue;
  }
  const list = bySnippet.get(d.file.fileName);
  if (!list) continue; // diagnostics of src/ are `npm run typecheck`'s business, of context files the snippet's own
  list.push(d);
}
let failed = 0;
for (const e of checked) {
  const diags = bySnippet.get(e.path);
  const [docFile, docLine] = e.source.split(':');
  if (e.expectError) {
    if (!diags.length) problems.push(`${e.source}: marked expect-error, but it compiles`);
    // It must fail for the mistake it shows, not for a name or module the page never declared.
    for (const d of diags.filter((x) => UNRESOLVED.has(x.code) || x.code === 2307)) {
      const { line } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
      problems.push(`${docFile}:${Number(docLine) + line}: expect-error snippet fails for an undeclared name, not its mistake: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
    }
    continue;
  }
  for (const d of diags) {
    const { line } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
    problems.push(`${docFile}:${Number(docLine) + line}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, '\n  ')}`);
  }
  if (diags.length) failed++;
}
rmSync(work, { recursive: true, force: true });

// Links. README.md is also the npm page, where a relative link leads nowhere: its links into
// the repository are absolute (package.json `repository`, branch main). Every link into the
// repository, relative or absolute, names a file that exists and, for a page, a heading it has.
const repoUrl = `${pkg.repository.url.replace(/^git\+/, '').replace(/\.git$/, '')}/`;
const slugs = new Map(); // markdown file -> its GitHub heading anchors
function anchorsOf(file) {
  if (!slugs.has(file)) {
    const set = new Set();
    const text = readFileSync(file, 'utf8').replace(/^\s*```[\s\S]*?^\s*```/gm, '');
    for (const m of text.matchAll(/^#{1,6}\s+(.*)$/gm)) {
      const base = m[1].trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
      let slug = base;
      for (let k = 1; set.has(slug); k++) slug = `${base}-${k}`;
      set.add(slug);
    }
    for (const m of text.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) set.add(m[1]);
    slugs.set(file, set);
  }
  return slugs.get(file);
}
for (const doc of targets) {
  const rel = relative(root, doc);
  const isReadme = rel === 'README.md';
  const lines = readFileSync(doc, 'utf8').split('\n');
  let fenced = false;
  for (const [n, text] of lines.entries()) {
    if (/^\s*```/.test(text)) {
      // An untagged block could be TypeScript that escapes the check: every block says its language.
      if (!fenced && /^\s*```\s*$/.test(text)) problems.push(`${rel}:${n + 1}: code block without a language (ts, sh, json, text, ...)`);
      fenced = !fenced;
    }
    if (fenced) continue;
    const prose = text.replace(/`[^`]*`/g, '');
    for (const m of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)|<img\s[^>]*src="([^"]+)"/g)) {
      const link = m[1] ?? m[2];
      let target;
      if (link.startsWith(repoUrl)) {
        const at = /^(?:blob|tree)\/main\/([^#?]*)(#.*)?$/.exec(link.slice(repoUrl.length));
        if (!at) continue; // issues, releases, ...
        target = join(root, decodeURIComponent(at[1])) + (at[2] ?? '');
      } else if (/^[a-z][a-z0-9+.-]*:/i.test(link)) {
        continue;
      } else {
        if (isReadme && !link.startsWith('#')) {
          problems.push(`${rel}:${n + 1}: relative link '${link}' does not resolve on the npm page (use ${repoUrl}blob/main/...)`);
          continue;
        }
        target = link.startsWith('#') ? doc + link : join(dirname(doc), link);
      }
      const [path, anchor] = target.split('#');
      let ok = true;
      try { readdirSync(path); } catch { try { readFileSync(path); } catch { ok = false; } }
      if (!ok) problems.push(`${rel}:${n + 1}: link '${link}': no such file in the repository`);
      else if (anchor && path.endsWith('.md') && !anchorsOf(path).has(anchor)) problems.push(`${rel}:${n + 1}: link '${link}': ${relative(root, path)} has no heading #${anchor}`);
    }
  }
}
const skipped = entries.filter((e) => e.skip).length;
if (problems.length) {
  for (const p of problems) console.error(p);
  console.error(`\ncheck-docs-snippets: FAIL: ${problems.length} problems in ${failed} of ${checked.length} snippets (${targets.length} files${skipped ? `, ${skipped} marked ignore` : ''})`);
  process.exit(1);
}
console.log(`check-docs-snippets: ${checked.length} snippets in ${targets.length} files compile${skipped ? ` (${skipped} marked ignore)` : ''}; expect-error snippets fail as they should; every code block is tagged; links resolve`);

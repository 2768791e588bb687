import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import * as core from '@llm-resilience/core';

/**
 * Keeps the policies shown in docs/ true: every ```ts block preceded by `<!-- check -->` is compiled
 * and run, and must call `definePolicy` at least once without an error (and without advice such as
 * "chain too long", unless the marker is `<!-- check: warnings-ok -->`). Blocks may import only
 * `@llm-resilience/core` and `zod`; everything else a snippet needs must be written in it.
 */

const DOCS = join(__dirname, '..');
const MARKER = /<!--\s*check(?::\s*(warnings-ok))?\s*-->\s*\n```ts\n([\s\S]*?)\n```/g;

interface Snippet {
  file: string;
  line: number;
  source: string;
  warningsOk: boolean;
}

function markdownFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(path).isDirectory()) out.push(...markdownFiles(path));
    else if (name.endsWith('.md')) out.push(path);
  }
  return out;
}

function snippets(): Snippet[] {
  const out: Snippet[] = [];
  for (const file of markdownFiles(DOCS)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(MARKER)) {
      out.push({
        file: relative(DOCS, file),
        line: text.slice(0, m.index).split('\n').length,
        source: m[2]!,
        warningsOk: m[1] === 'warnings-ok',
      });
    }
  }
  return out;
}

// zod as the core package resolves it (the docs folder has no node_modules of its own).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const zod: unknown = require(require.resolve('zod', { paths: [join(DOCS, '../packages/core')] }));

/** Runs one snippet; returns how many policies it defined and the advice they produced. */
function run(snippet: Snippet): { policies: number; warnings: string[] } {
  const { outputText, diagnostics } = ts.transpileModule(snippet.source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    reportDiagnostics: true,
    fileName: 'snippet.ts',
  });
  if (diagnostics && diagnostics.length > 0) {
    throw new Error(diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n'));
  }
  let policies = 0;
  const warnings: string[] = [];
  const definePolicy: typeof core.definePolicy = (input, options) => {
    policies++;
    return core.definePolicy(input, {
      ...options,
      onWarning: (w) => warnings.push(w),
    });
  };
  const wrappedCore = { ...core, definePolicy };
  const requireForSnippet = (id: string): unknown => {
    if (id === '@llm-resilience/core') return wrappedCore;
    if (id === 'zod') return zod;
    throw new Error(`docs snippets may import only @llm-resilience/core and zod, not '${id}'`);
  };
  const module = { exports: {} as Record<string, unknown> };
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const fn = new Function('require', 'module', 'exports', outputText) as (r: unknown, m: unknown, e: unknown) => void;
  fn(requireForSnippet, module, module.exports);
  return { policies, warnings };
}

const all = snippets();

describe('policy snippets in docs/', () => {
  it('finds the checked snippets', () => {
    expect(all.length).toBeGreaterThanOrEqual(10);
  });

  it('has at least one checked policy in every recipe', () => {
    const recipes = markdownFiles(join(DOCS, 'recipes')).map((f) => relative(DOCS, f));
    const covered = new Set(all.map((s) => s.file));
    expect(recipes.filter((r) => !covered.has(r))).toEqual([]);
  });

  it.each(all.map((s) => [`${s.file}:${s.line}`, s] as const))('%s is accepted by definePolicy', (_name, snippet) => {
    const { policies, warnings } = run(snippet);
    expect(policies).toBeGreaterThanOrEqual(1);
    if (!snippet.warningsOk) expect(warnings).toEqual([]);
  });
});

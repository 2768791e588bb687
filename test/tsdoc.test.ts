import { join } from 'node:path';
import ts from 'typescript';

/**
 * The public API is documented: every export of every package's index carries TSDoc with an
 * `@example` (on the declaration itself, or on the `const` statement of an exported variable).
 */
const root = join(__dirname, '..');
const PACKAGES = ['core', 'redis', 'express', 'nestjs', 'langchain', 'testing'];

function hasExample(node: ts.Node): boolean {
  return ts.getJSDocTags(node).some((t) => t.tagName.text === 'example');
}

/** Names of `index.ts`'s exports without an example, per package. */
function undocumentedExports(): Record<string, string[]> {
  const files = PACKAGES.map((p) => join(root, 'packages', p, 'src', 'index.ts'));
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  if (config === undefined) throw new Error('tsconfig.json could not be read');
  const program = ts.createProgram(files, config.options);
  const checker = program.getTypeChecker();
  const out: Record<string, string[]> = {};
  files.forEach((file, i) => {
    const source = program.getSourceFile(file);
    const module = source && checker.getSymbolAtLocation(source);
    if (module === undefined) throw new Error(`${file}: not a module`);
    out[PACKAGES[i]!] = checker
      .getExportsOfModule(module)
      .filter((exported) => {
        const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
        const declarations = symbol.getDeclarations() ?? [];
        return !declarations.some((d) => hasExample(d) || (ts.isVariableDeclaration(d) && hasExample(d.parent.parent)));
      })
      .map((s) => s.name);
  });
  return out;
}

describe('public API docs', () => {
  it('gives every export of every package a TSDoc @example', () => {
    const missing = undocumentedExports();
    expect(Object.keys(missing)).toEqual(PACKAGES);
    expect(missing).toEqual(Object.fromEntries(PACKAGES.map((p) => [p, []])));
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_DOCS_PATH, ENGINE_OPTIONS, renderConfigDocs } from '../../../../scripts/gen-config-docs';
import { RESILIENCE_OPTION_NAMES } from '../engine/checkOptions';
import { policySchema } from './schema';

/** Keeps docs/configuration.md generated from the schema and the defaults of definePolicy. */
describe('docs/configuration.md', () => {
  const root = join(__dirname, '../../../..');

  interface Node {
    description?: string;
    properties?: Record<string, Node>;
    additionalProperties?: Node | boolean;
    items?: Node;
    oneOf?: Node[];
  }

  /** Every named property of the schema, with its path and node. */
  function properties(node: Node, path: string, out: Array<[string, Node]> = []): Array<[string, Node]> {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      out.push([`${path}${key}`, child]);
      properties(child, `${path}${key}.`, out);
    }
    if (typeof node.additionalProperties === 'object') properties(node.additionalProperties, `${path}<name>.`, out);
    if (node.items) properties(node.items, path.replace(/\.$/, '[].'), out);
    for (const branch of node.oneOf ?? []) properties(branch, path, out);
    return out;
  }

  const schema = policySchema.toJSONSchema({ io: 'input', unrepresentable: 'any' }) as unknown as Node;

  it('is up to date with the schema and the defaults (run `npx tsx scripts/gen-config-docs.ts` if not)', () => {
    const onDisk = readFileSync(join(root, CONFIG_DOCS_PATH), 'utf8');
    const expected = renderConfigDocs();
    if (onDisk !== expected) {
      const a = onDisk.split('\n');
      const b = expected.split('\n');
      const line = a.findIndex((l, i) => l !== b[i]);
      throw new Error(
        `${CONFIG_DOCS_PATH} is out of date (first difference at line ${line + 1}).\n` +
          `  on disk:  ${a[line] ?? '(end of file)'}\n  expected: ${b[line] ?? '(end of file)'}\n` +
          'Run `npx tsx scripts/gen-config-docs.ts` and commit the result.',
      );
    }
    expect(onDisk).toBe(expected);
  });

  it('renders the same page every time', () => {
    expect(renderConfigDocs()).toBe(renderConfigDocs());
  });

  it('has a description for every field of the schema', () => {
    const missing = properties(schema, '')
      .filter(([, node]) => !node.description)
      .map(([path]) => path);
    expect(missing).toEqual([]);
  });

  it('documents every field of the schema', () => {
    const page = renderConfigDocs();
    // Fields of `routes.<name>.retry` / `.messages` / inline chain targets are documented once, under
    // `retry`, `messages` and `targets.<name>`.
    const shared = /^routes\.<name>\.(retry|messages)\./;
    const paths = properties(schema, '')
      .map(([path]) => path)
      .filter((p) => !shared.test(p));
    const undocumented = paths.filter((p) => !page.includes(`| \`${p}\` |`));
    expect(undocumented).toEqual([]);
    expect(paths.length).toBeGreaterThan(60);
  });

  it('documents every option of createResilience, and no option it does not know', () => {
    const documented = ENGINE_OPTIONS.map((r) => r.path).filter((p) => !p.includes('.'));
    expect([...documented].sort()).toEqual([...RESILIENCE_OPTION_NAMES].sort());
    expect(renderConfigDocs()).toContain('| `redact.secrets` |');
  });
});

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The published shape of every package: the built `dist/` (made by `pnpm build`, which `pnpm test`
 * runs first) loads as CommonJS and as ESM in a plain Node process, exports what its source index
 * exports, and ships type declarations.
 */
const root = join(__dirname, '..');
const packages: Record<string, string[]> = {
  core: ['createResilience', 'definePolicy', 'classifyError', 'MemoryLimiterStore', 'Limiter', 'httpErrorOf'],
  testing: ['createFakeProvider', 'FAULT_KINDS'],
  redis: ['RedisLimiterStore', 'createRedisResilienceState', 'RedisBreakerSync', 'RedisPacingSync'],
  express: ['resilience', 'openAIGateway', 'resilienceErrorHandler'],
  nestjs: ['ResilienceModule', 'RateLimited', 'Fallback', 'retryWithBackoff'],
  langchain: ['withResilience', 'ResilientRunnable'],
};

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
}

describe.each(Object.entries(packages))('@llm-resilience/%s as built', (name, expected) => {
  const dir = join(root, 'packages', name);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    exports: Record<string, { require: string; import: string; types: string }>;
  };

  it('ships CJS, ESM and type declarations for every export', () => {
    for (const entry of Object.values(manifest.exports)) {
      for (const file of [entry.require, entry.import, entry.types]) expect(existsSync(join(dir, file))).toBe(true);
    }
  });

  it('loads with require() and import() and exposes its main API', () => {
    const cjs = node(['-e', `console.log(JSON.stringify(Object.keys(require(${JSON.stringify(dir)}))))`]);
    const esm = node([
      '--input-type=module',
      '-e',
      `const m = await import(${JSON.stringify(join(dir, manifest.exports['.']!.import))}); console.log(JSON.stringify(Object.keys(m)))`,
    ]);
    const cjsKeys = JSON.parse(cjs) as string[];
    const esmKeys = JSON.parse(esm) as string[];
    expect(cjsKeys).toEqual(expect.arrayContaining(expected));
    expect(esmKeys.sort()).toEqual(cjsKeys.filter((k) => k !== 'default' && k !== '__esModule').sort());
  });
});

describe('@llm-resilience/core tokenizer as built', () => {
  const dir = join(root, 'packages', 'core');

  it('loads a BPE encoding only when a count needs it, from the CommonJS build', () => {
    const out = node([
      '-e',
      `const core = require(${JSON.stringify(dir)});
       const loaded = () => Object.keys(require.cache).filter((f) => /gpt-tokenizer.cjs.encoding.[^/]+$/.test(f)).map((f) => f.split('/').pop());
       const before = loaded();
       const gpt4o = core.defaultTokenizer.count('Hello, world!', 'gpt-4o');
       console.log(JSON.stringify({ before, gpt4o, after: loaded() }));`,
    ]);
    expect(JSON.parse(out)).toEqual({ before: [], gpt4o: 4, after: ['o200k_base.js'] });
  });

  it('counts exactly from the ESM build, where require comes from createRequire', () => {
    const out = node([
      '--input-type=module',
      '-e',
      `const core = await import(${JSON.stringify(join(dir, 'dist', 'index.mjs'))});
       console.log(JSON.stringify([core.defaultTokenizer.count('Hello, world!', 'gpt-4o'), core.defaultTokenizer.count('Hello, world!', 'gpt-3.5-turbo')]));`,
    ]);
    expect(JSON.parse(out)).toEqual([4, 4]);
  });
});

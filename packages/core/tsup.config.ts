import { defineConfig } from 'tsup';

/**
 * Build settings merged with the flags of the `build` script. The ESM build gets a module-scope
 * `require` (Node's `createRequire`): the default tokenizer loads each `gpt-tokenizer` encoding with
 * `require` on first use, so that importing the package does not load ~40 MB of vocabularies.
 */
export default defineConfig({
  banner: ({ format }) => (format === 'esm' ? { js: "import { createRequire as __llmrCreateRequire } from 'node:module';\nconst require = __llmrCreateRequire(import.meta.url);" } : {}),
});

import { defineConfig } from 'tsup';

/**
 * Build settings merged with the flags of the `build` script. `splitting` makes `index` and `augment`
 * share one chunk in the CommonJS output too (esbuild splits ESM by default only): otherwise each
 * entry would carry its own copy of `ResilientRunnable` and the error classes, and `instanceof`
 * would fail for runnables created through `.withResilience()`.
 */
export default defineConfig({
  splitting: true,
});

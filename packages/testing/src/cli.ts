#!/usr/bin/env node
/**
 * `llm-resilience-fake-provider --config scenario.json [--port 8787] [--host 127.0.0.1] [--seed 42]`
 *
 * Starts the fake provider, prints its URL and stops cleanly on SIGINT/SIGTERM.
 *
 * @example
 * ```sh
 * npx llm-resilience-fake-provider --config examples/scenarios/outage.json --port 8787
 * ```
 */
import { readFileSync } from 'node:fs';
import { FakeProviderConfigError, validateConfig } from './config';
import { parseArgs, USAGE, type CliArgs } from './cliArgs';
import { createFakeProvider } from './server';
import type { FakeProviderConfig } from './types';

function loadScenario(args: CliArgs): FakeProviderConfig {
  let raw: unknown = { models: { 'fake-model': { contextWindow: 128_000 } } };
  if (args.config) {
    try {
      raw = JSON.parse(readFileSync(args.config, 'utf8'));
    } catch (err) {
      throw new Error(`Could not read the scenario ${args.config}: ${(err as Error).message}. Pass a JSON file (see docs/fake-provider.md).`);
    }
  }
  const config = validateConfig(raw);
  if (args.seed !== undefined) config.seed = args.seed;
  return config;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const fake = createFakeProvider(loadScenario(args));
  const { url, baseURL } = await fake.start({ port: args.port, host: args.host });
  console.log(
    [
      `llm-resilience fake provider listening on ${url}`,
      `  OpenAI baseURL: ${baseURL}   Anthropic baseURL: ${url}`,
      `  models: ${Object.keys(fake.config.models).join(', ')}; faults: ${fake.config.faults?.length ?? 0}`,
    ].join('\n'),
  );
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const c = fake.counters;
    console.log(`${signal}: stopping (requests ${c.requests}, 429s ${c.rateLimited}, tokens in/out ${c.tokensIn}/${c.tokensOut})`);
    void fake.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  if (err instanceof FakeProviderConfigError) console.error(err.message);
  else console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});

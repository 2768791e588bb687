import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { createFakeProvider, type FakeProvider, type FakeProviderConfig, type FakeProviderOptions } from '../src';

/** A started fake provider with SDK clients pointed at it (no SDK retries). */
export interface Started {
  fake: FakeProvider;
  url: string;
  baseURL: string;
  openai: OpenAI;
  anthropic: Anthropic;
}

export async function startFake(config: FakeProviderConfig, options?: FakeProviderOptions, timeout = 5_000): Promise<Started> {
  const fake = createFakeProvider(config, options);
  const { url, baseURL } = await fake.start();
  return {
    fake,
    url,
    baseURL,
    openai: new OpenAI({ apiKey: 'test-key', baseURL, maxRetries: 0, timeout }),
    anthropic: new Anthropic({ apiKey: 'test-key', baseURL: url, maxRetries: 0, timeout }),
  };
}

/** A raw POST, to look at statuses, headers and bodies exactly as sent. */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string; json: () => unknown }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

export { rejection } from '../../../test/support/rejection';

export const userMessage = (content: string) => [{ role: 'user' as const, content }];

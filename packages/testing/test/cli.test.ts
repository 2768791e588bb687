import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { classifyError } from '@llm-resilience/core';
import OpenAI from 'openai';

const repoRoot = join(__dirname, '../../..');

describe('llm-resilience-fake-provider CLI', () => {
  it('serves a scenario file, prints its URL and stops on SIGTERM', async () => {
    // seed 3: the scenario's 2% stream_cut does not hit the first request (seed 7 would)
    const child = spawn(join(repoRoot, 'node_modules/.bin/tsx'), ['packages/testing/src/cli.ts', '--config', 'examples/scenarios/outage.json', '--port', '0', '--seed', '3'], { cwd: repoRoot });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      for (let i = 0; i < 300 && !/faults: \d+/.test(out); i++) await new Promise((r) => setTimeout(r, 20));
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      expect(url).toBeDefined();
      expect(out).toContain('models: fast-a, fast-b, long-a; faults: 4');
      const openai = new OpenAI({ apiKey: 'test-key', baseURL: `${url}/v1`, maxRetries: 0 });
      const r = await openai.chat.completions.create({ model: 'long-a', messages: [{ role: 'user', content: 'hello cli' }] });
      expect(r.choices[0]!.message.content!.startsWith('[long-a] reply to')).toBe(true);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).toMatch(/SIGTERM: stopping \(requests 1, 429s 0/);
  }, 20_000);

  it('serves the in-stream errors a scenario file scripts (stream_error), as the SDKs surface them', async () => {
    const child = spawn(join(repoRoot, 'node_modules/.bin/tsx'), ['packages/testing/src/cli.ts', '--config', 'packages/testing/test/fixtures/stream-errors.json', '--port', '0'], { cwd: repoRoot });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    /** The text streamed before the error, and the error's kind. */
    const drain = async <T>(stream: AsyncIterable<T>, text: (item: T) => string) => {
      let received = '';
      try {
        for await (const item of stream) received += text(item);
        return { received, kind: 'no error' };
      } catch (err) {
        return { received, kind: classifyError(err).kind };
      }
    };
    try {
      for (let i = 0; i < 300 && !/faults: \d+/.test(out); i++) await new Promise((r) => setTimeout(r, 20));
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      expect(url).toBeDefined();
      expect(out).toContain('models: chat-a, claude-a; faults: 2');
      const openai = new OpenAI({ apiKey: 'test-key', baseURL: `${url}/v1`, maxRetries: 0 });
      const chat = await openai.chat.completions.create({ model: 'chat-a', messages: [{ role: 'user', content: 'hello cli' }], stream: true });
      const fromOpenAI = await drain(chat, (c) => c.choices[0]?.delta.content ?? '');
      expect(fromOpenAI).toEqual({ received: expect.stringMatching(/^\[chat-a\] reply /), kind: 'rate_limited' });
      const anthropic = new Anthropic({ apiKey: 'test-key', baseURL: url, maxRetries: 0 });
      const msg = await anthropic.messages.create({ model: 'claude-a', max_tokens: 100, messages: [{ role: 'user', content: 'hello cli' }], stream: true });
      const fromAnthropic = await drain(msg, (e) => (e.type === 'content_block_delta' && e.delta.type === 'text_delta' ? e.delta.text : ''));
      expect(fromAnthropic).toEqual({ received: expect.stringMatching(/^\[claude-a\] reply /), kind: 'overloaded' });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).toMatch(/SIGTERM: stopping \(requests 2, 429s 0/);
  }, 20_000);

  it('exits with the scenario problems when the config is invalid', async () => {
    const child = spawn(join(repoRoot, 'node_modules/.bin/tsx'), ['packages/testing/src/cli.ts', '--config', 'package.json'], { cwd: repoRoot });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(err).toMatch(/Invalid fake-provider scenario/);
    expect(err).toMatch(/config\.models: required/);
  }, 20_000);
});

import { BaseChatModel, type BaseChatModelParams } from '@langchain/core/language_models/chat_models';
import { AIMessage, AIMessageChunk, type BaseMessage } from '@langchain/core/messages';
import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import { ChatGenerationChunk, type ChatResult } from '@langchain/core/outputs';
import { RunnableLambda } from '@langchain/core/runnables';
import { createResilience, definePolicy, ManualClock, type PolicyInput, type RequestRecord, type Resilience } from '@llm-resilience/core';

/** One scripted reply of a {@link ScriptedChatModel}. */
export type Step =
  | {
      text: string;
      usage?: { input: number; output: number };
      /** Streams only: `'start'` reports usage Anthropic-style (input and output 1 on the first chunk, the rest at the end). */
      usageAt?: 'start' | 'end';
      breakAfter?: number;
      error?: unknown;
      /**
       * How the reply ended, as ChatOpenAI reports it (`length`: cut off by `max_tokens`): in
       * `response_metadata`, streamed in a last empty chunk's generation info.
       */
      finishReason?: string;
    }
  | { error: unknown; text?: undefined }
  /**
   * A tool call as OpenAI-style models report it: the raw call in `additional_kwargs.tool_calls`, the
   * parsed one in `tool_calls` (or `invalid_tool_calls` when `arguments` is not JSON); streamed as a
   * header chunk (name and id), then the arguments in pieces of `pieceChars` characters (default 8).
   * `finishReason` is how the reply ended, as ChatOpenAI reports it (`length`: cut off by `max_tokens`):
   * in `response_metadata`, streamed in a last empty chunk's generation info.
   */
  | { toolCall: { name: string; arguments: string }; pieceChars?: number; finishReason?: string; text?: undefined; error?: undefined };

/**
 * A real LangChain chat model (BaseChatModel: callbacks, streaming, usage_metadata) that plays a
 * script: each call takes the next step (the last one repeats). `breakAfter` makes a stream throw
 * `error` after that many content chunks.
 */
export class ScriptedChatModel extends BaseChatModel {
  calls = 0;
  readonly prompts: BaseMessage[][] = [];
  private readonly steps: Step[];

  constructor(steps: Step[], fields: BaseChatModelParams = {}) {
    super({ maxRetries: 0, ...fields });
    this.steps = steps;
  }

  override _llmType(): string {
    return 'scripted';
  }

  private next(messages: BaseMessage[]): Step {
    this.calls++;
    this.prompts.push(messages);
    const step = this.steps.length > 1 ? this.steps.shift()! : this.steps[0]!;
    return step;
  }

  override async _generate(messages: BaseMessage[], options: this['ParsedCallOptions']): Promise<ChatResult> {
    options.signal?.throwIfAborted();
    const step = this.next(messages);
    if ('toolCall' in step) return { generations: [{ message: toolCallMessage(step.toolCall, step.finishReason), text: '' }] };
    if (step.text === undefined) throw step.error;
    const message = new AIMessage({
      content: step.text,
      ...(step.finishReason !== undefined ? { response_metadata: { finish_reason: step.finishReason } } : {}),
      ...(step.usage
        ? { usage_metadata: { input_tokens: step.usage.input, output_tokens: step.usage.output, total_tokens: step.usage.input + step.usage.output } }
        : {}),
    });
    return { generations: [{ message, text: step.text }] };
  }

  override async *_streamResponseChunks(
    messages: BaseMessage[],
    options: this['ParsedCallOptions'],
    runManager?: CallbackManagerForLLMRun,
  ): AsyncGenerator<ChatGenerationChunk> {
    const step = this.next(messages);
    if ('toolCall' in step) {
      yield* toolCallChunks(step.toolCall, step.pieceChars ?? 8);
      if (step.finishReason !== undefined) {
        yield new ChatGenerationChunk({ message: new AIMessageChunk({ content: '' }), text: '', generationInfo: { finish_reason: step.finishReason } });
      }
      return;
    }
    if (step.text === undefined) throw step.error;
    const meta = (input: number, output: number) => ({ input_tokens: input, output_tokens: output, total_tokens: input + output });
    const early = step.usage !== undefined && step.usageAt === 'start';
    // An empty role chunk first, like OpenAI (Anthropic's message_start carries input usage).
    yield new ChatGenerationChunk({
      message: new AIMessageChunk({ content: '', ...(early ? { usage_metadata: meta(step.usage!.input, 1) } : {}) }),
      text: '',
    });
    const words = step.text.split(/(?<= )/);
    let sent = 0;
    for (const w of words) {
      options.signal?.throwIfAborted();
      if (step.breakAfter !== undefined && sent >= step.breakAfter) throw step.error ?? new Error('socket hang up');
      await new Promise((r) => setImmediate(r));
      yield new ChatGenerationChunk({ message: new AIMessageChunk({ content: w }), text: w });
      await runManager?.handleLLMNewToken(w);
      sent++;
    }
    if (step.finishReason !== undefined) {
      yield new ChatGenerationChunk({ message: new AIMessageChunk({ content: '' }), text: '', generationInfo: { finish_reason: step.finishReason } });
    }
    if (step.usage) {
      const last = early ? meta(0, step.usage.output - 1) : meta(step.usage.input, step.usage.output);
      yield new ChatGenerationChunk({ message: new AIMessageChunk({ content: '', usage_metadata: last }), text: '' });
    }
  }
}

const TOOL_CALL_ID = 'call_scripted';

/** A whole tool-call reply, as ChatOpenAI builds it from a completion. */
function toolCallMessage(call: { name: string; arguments: string }, finishReason: string | undefined): AIMessage {
  const raw = { id: TOOL_CALL_ID, type: 'function' as const, function: call };
  let args: Record<string, unknown> | undefined;
  try {
    args = JSON.parse(call.arguments) as Record<string, unknown>;
  } catch {
    args = undefined;
  }
  const message = new AIMessage({
    content: '',
    ...(args !== undefined
      ? { tool_calls: [{ id: TOOL_CALL_ID, name: call.name, args, type: 'tool_call' as const }] }
      : { invalid_tool_calls: [{ id: TOOL_CALL_ID, name: call.name, args: call.arguments, error: 'Malformed args.', type: 'invalid_tool_call' as const }] }),
    ...(finishReason !== undefined ? { response_metadata: { finish_reason: finishReason } } : {}),
  });
  // Set after construction: AIMessage warns about raw tool calls without parsed ones (ChatOpenAI's do too).
  message.additional_kwargs.tool_calls = [raw];
  return message;
}

/** A streamed tool-call reply, as ChatOpenAI streams it: the header (name, id), then the arguments in pieces. */
async function* toolCallChunks(call: { name: string; arguments: string }, pieceChars: number): AsyncGenerator<ChatGenerationChunk> {
  const chunk = (name: string | undefined, args: string) =>
    new ChatGenerationChunk({
      message: new AIMessageChunk({
        content: '',
        additional_kwargs: { tool_calls: [{ index: 0, ...(name !== undefined ? { id: TOOL_CALL_ID, type: 'function' } : {}), function: { ...(name !== undefined ? { name } : {}), arguments: args } }] } as never,
        tool_call_chunks: [{ index: 0, ...(name !== undefined ? { id: TOOL_CALL_ID, name } : {}), args, type: 'tool_call_chunk' }],
      }),
      text: '',
    });
  yield chunk(call.name, '');
  for (let i = 0; i < call.arguments.length; i += pieceChars) {
    await new Promise((r) => setImmediate(r));
    yield chunk(undefined, call.arguments.slice(i, i + pieceChars));
  }
}

/** An error shaped like an HTTP failure from an SDK (status + headers). */
export function httpError(status: number, headers: Record<string, string> = {}, message = `HTTP ${status}`): Error {
  return Object.assign(new Error(message), { status, headers, error: { message } });
}

export const TARGETS = {
  primary: { provider: 'openai', model: 'primary-model', contextWindow: 16_000, price: { input: 1, output: 2 }, dataClasses: ['public', 'internal'] },
  long: { provider: 'anthropic', model: 'long-model', contextWindow: 200_000, price: { input: 3, output: 6 }, dataClasses: ['public'] },
} satisfies PolicyInput['targets'];

/** An engine on a ManualClock, collecting its records. Routes: `chat` (primary, long), `solo` (primary). */
export function manualEngine(extra: Partial<PolicyInput> = {}): { engine: Resilience; clock: ManualClock; records: RequestRecord[] } {
  const clock = new ManualClock(1_700_000_000_000);
  const policy = definePolicy(
    { targets: TARGETS, routes: { chat: { chain: ['primary', 'long'] }, solo: { chain: ['primary'] } }, ...extra },
    { onWarning: () => undefined },
  );
  const engine = createResilience(policy, { clock, random: () => 0.5 });
  const records: RequestRecord[] = [];
  engine.events.on('record', (r) => records.push(r));
  return { engine, clock, records };
}

/**
 * Runs `p` while moving the manual clock forward in small steps (so backoff, Retry-After and limiter
 * waits pass, but attempt timeouts far ahead never fire) until it settles.
 */
export async function drive<T>(clock: ManualClock, p: Promise<T>, stepMs = 10, maxMs = 120_000): Promise<T> {
  let settled = false;
  const watched = p.finally(() => {
    settled = true;
  });
  watched.catch(() => undefined);
  for (let waited = 0; !settled && waited <= maxMs; waited += stepMs) {
    for (let i = 0; i < 3 && !settled; i++) await new Promise((r) => setImmediate(r));
    if (!settled) await clock.advance(stepMs);
  }
  return watched;
}

export { rejection } from '../../../test/support/rejection';

/** A promise with its resolve function outside. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A run tree from FakeTracer, reduced to what the tests look at. */
export interface RunNode {
  name: string;
  tags: string[];
  error?: string;
  metadata: Record<string, unknown>;
  children: RunNode[];
}

export function runTree(run: { name: string; tags?: string[]; error?: string; extra?: { metadata?: Record<string, unknown> }; child_runs: unknown[] }): RunNode {
  return {
    name: run.name,
    tags: run.tags ?? [],
    ...(run.error !== undefined ? { error: run.error } : {}),
    metadata: run.extra?.metadata ?? {},
    children: (run.child_runs as Array<Parameters<typeof runTree>[0]>).map(runTree),
  };
}

/**
 * A chain step that yields nothing for its input: a generator function (a filter that drops the whole
 * reply) as LangChain runs it. Its types do not describe generator functions, hence the cast.
 */
export function dropsEverything<I, O>(): RunnableLambda<I, O> {
  return RunnableLambda.from((async function* () {}) as unknown as (input: I) => Promise<O>);
}

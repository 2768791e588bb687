/**
 * Request options of an OpenAI chat request and what becomes of them on an Anthropic upstream:
 * mapped, ignored (they do not change what the reply says) or refused.
 */
import { isObject, type ChatRequestBody, type JsonObject } from './chatTypes';
import { ChatRequestError, invalidType } from './ChatRequestError';

/**
 * Options the translation maps to Anthropic fields (or that shape the gateway's own handling).
 *
 * @example
 * ```ts
 * ANTHROPIC_MAPPED_OPTIONS.includes('stop'); // true: becomes stop_sequences
 * ```
 */
export const ANTHROPIC_MAPPED_OPTIONS: readonly string[] = [
  'model',
  'messages',
  'stream',
  'stream_options',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'top_k',
  'stop',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'response_format',
  'user',
  'safety_identifier',
];

/**
 * Options sent to Anthropic upstreams as if absent: sampling and caching hints, OpenAI-side
 * storage and routing. A reply without them is still a faithful answer to the request.
 *
 * @example
 * ```ts
 * ANTHROPIC_IGNORED_OPTIONS.includes('seed'); // true
 * ```
 */
export const ANTHROPIC_IGNORED_OPTIONS: readonly string[] = [
  'frequency_penalty',
  'presence_penalty',
  'seed',
  'metadata',
  'store',
  'service_tier',
  'prediction',
  'prompt_cache_key',
  'prompt_cache_retention',
  'prompt_cache_options',
  'reasoning_effort',
  'verbosity',
];

const absent = (v: unknown) => v === undefined || v === null;

/**
 * When each refused option is in effect (a value that asks for something the translation cannot
 * give); at other values it is accepted and has no effect.
 */
const REFUSED: Readonly<Record<string, { inEffect: (v: unknown) => boolean; hint: string }>> = {
  n: { inEffect: (v) => !absent(v) && v !== 1, hint: 'Only one choice (n: 1) is supported.' },
  logprobs: { inEffect: (v) => v === true, hint: 'Log probabilities are not available.' },
  top_logprobs: { inEffect: (v) => !absent(v) && v !== 0, hint: 'Log probabilities are not available.' },
  logit_bias: { inEffect: (v) => !absent(v) && !(isObject(v) && Object.keys(v).length === 0), hint: 'Token biases are not available.' },
  audio: { inEffect: (v) => !absent(v), hint: 'Audio output is not available.' },
  modalities: { inEffect: (v) => !absent(v) && !(Array.isArray(v) && v.every((m) => m === 'text')), hint: "Only the 'text' modality is supported." },
  functions: { inEffect: (v) => !absent(v), hint: 'Use tools instead of the deprecated functions.' },
  function_call: { inEffect: (v) => !absent(v), hint: 'Use tool_choice instead of the deprecated function_call.' },
  web_search_options: { inEffect: (v) => !absent(v), hint: 'Web search is not available.' },
  moderation: { inEffect: (v) => !absent(v), hint: 'Moderation results are not available.' },
};

function unsupportedParameter(param: string, model: string, hint: string): ChatRequestError {
  return new ChatRequestError(param, 'unsupported_parameter', `Unsupported parameter: '${param}' is not supported with model \`${model}\`.${hint ? ` ${hint}` : ''}`);
}

/**
 * Refuses the options of `body` an Anthropic upstream cannot honour: `n` above 1, `logprobs`,
 * `top_logprobs`, `logit_bias`, audio output, the deprecated `functions`/`function_call`, web
 * search, moderation, and any option this gateway does not know (as OpenAI itself does). Mapped
 * and {@link ANTHROPIC_IGNORED_OPTIONS ignored} options pass.
 *
 * @example
 * ```ts
 * assertAnthropicOptions({ model: 'support', messages, n: 2 }); // throws: Unsupported parameter: 'n' ...
 * ```
 */
export function assertAnthropicOptions(body: ChatRequestBody): void {
  for (const [key, value] of Object.entries(body)) {
    if (ANTHROPIC_MAPPED_OPTIONS.includes(key) || ANTHROPIC_IGNORED_OPTIONS.includes(key)) continue;
    const refused = REFUSED[key];
    if (refused ? refused.inEffect(value) : !absent(value)) throw unsupportedParameter(key, body.model, refused?.hint ?? '');
  }
}

/**
 * `output_config` of a `response_format`: a JSON schema becomes `output_config.format`; `text` (or
 * none) gives nothing; JSON mode without a schema (`json_object`) cannot be honoured and is refused.
 *
 * @example
 * ```ts
 * anthropicOutputConfig({ type: 'json_schema', json_schema: { name: 's', schema: { type: 'object' } } }, 'support');
 * // { format: { type: 'json_schema', schema: { type: 'object' } } }
 * ```
 */
export function anthropicOutputConfig(rf: unknown, model: string): JsonObject | undefined {
  if (absent(rf)) return undefined;
  if (!isObject(rf)) throw invalidType('response_format', 'an object', rf);
  if (rf.type === 'text') return undefined;
  if (rf.type === 'json_schema') {
    if (!isObject(rf.json_schema)) throw invalidType('response_format.json_schema', 'an object', rf.json_schema);
    return { format: { type: 'json_schema', schema: rf.json_schema.schema ?? {} } };
  }
  throw new ChatRequestError(
    'response_format',
    'unsupported_value',
    `Unsupported value: 'response_format.type' does not support ${JSON.stringify(rf.type)} with model \`${model}\`. Use { type: 'json_schema', json_schema: { name, schema } }.`,
  );
}

/**
 * Anthropic `tool_choice` of OpenAI's `tool_choice` and `parallel_tool_calls`: `auto`, `required`
 * (`any`), `none` and a named function map; `parallel_tool_calls: false` becomes
 * `disable_parallel_tool_use`. Other choices (allowed tools, custom tools) and a
 * `parallel_tool_calls` that is not a boolean (or `null`) are refused.
 *
 * @example
 * ```ts
 * anthropicToolChoice('required', false, true, 'support'); // { type: 'any', disable_parallel_tool_use: true }
 * ```
 */
export function anthropicToolChoice(choice: unknown, parallel: unknown, hasTools: boolean, model: string): JsonObject | undefined {
  if (!absent(parallel) && typeof parallel !== 'boolean') throw invalidType('parallel_tool_calls', 'a boolean', parallel);
  let out: JsonObject | undefined;
  if (absent(choice)) out = undefined;
  else if (choice === 'auto') out = { type: 'auto' };
  else if (choice === 'required') out = { type: 'any' };
  else if (choice === 'none') out = { type: 'none' };
  else if (isObject(choice) && (choice.type === undefined || choice.type === 'function') && isObject(choice.function) && typeof choice.function.name === 'string') {
    out = { type: 'tool', name: choice.function.name };
  } else {
    const what = isObject(choice) ? `a tool choice of type ${JSON.stringify(choice.type)}` : JSON.stringify(choice);
    throw new ChatRequestError('tool_choice', 'unsupported_value', `Unsupported value: ${what} in 'tool_choice' is not supported with model \`${model}\`.`);
  }
  if (parallel === false && hasTools && out?.type !== 'none') out = { ...(out ?? { type: 'auto' }), disable_parallel_tool_use: true };
  return out;
}

function inputSchema(parameters: unknown, path: string): JsonObject {
  if (absent(parameters)) return { type: 'object', properties: {} };
  if (!isObject(parameters)) throw invalidType(path, 'an object', parameters);
  return parameters.type === undefined ? { type: 'object', ...parameters } : parameters;
}

/**
 * Anthropic tools of OpenAI's function tools (`name`, `description`, `parameters` as
 * `input_schema`, given `type: 'object'` when it has no `type`, as Anthropic requires; `strict` is
 * not sent). Custom tools and `parameters` that are not an object are refused.
 *
 * @example
 * ```ts
 * anthropicTools([{ type: 'function', function: { name: 'f', parameters: {} } }], 'support');
 * // [{ name: 'f', input_schema: { type: 'object' } }]
 * ```
 */
export function anthropicTools(tools: unknown, model: string): JsonObject[] | undefined {
  if (absent(tools)) return undefined;
  if (!Array.isArray(tools)) throw invalidType('tools', 'an array', tools);
  return tools.map((t: unknown, i) => {
    const path = `tools[${i}]`;
    if (!isObject(t)) throw invalidType(path, 'an object', t);
    if (t.type !== undefined && t.type !== 'function') {
      throw new ChatRequestError(path, 'unsupported_value', `Unsupported value: a tool of type ${JSON.stringify(t.type)} in '${path}' is not supported with model \`${model}\`.`);
    }
    const f = t.function;
    if (!isObject(f)) throw invalidType(`${path}.function`, 'an object', f);
    if (typeof f.name !== 'string' || f.name === '') throw invalidType(`${path}.function.name`, 'a string', f.name);
    return { name: f.name, ...(f.description !== undefined ? { description: f.description } : {}), input_schema: inputSchema(f.parameters, `${path}.function.parameters`) };
  });
}

/**
 * `stop_sequences` of OpenAI's `stop` (a string or an array of strings).
 *
 * @example
 * ```ts
 * anthropicStopSequences('END'); // ['END']
 * ```
 */
export function anthropicStopSequences(stop: unknown): string[] | undefined {
  if (absent(stop)) return undefined;
  if (typeof stop === 'string') return [stop];
  if (!Array.isArray(stop)) throw invalidType('stop', 'a string or an array of strings', stop);
  return stop.map((s: unknown, i) => {
    if (typeof s !== 'string') throw invalidType(`stop[${i}]`, 'a string', s);
    return s;
  });
}

function outOfRange(param: string, expected: string, got: number): ChatRequestError {
  return new ChatRequestError(param, 'invalid_value', `Invalid value for '${param}': expected ${expected}, but got ${got} instead.`);
}

/**
 * Anthropic sampling options of OpenAI's `temperature` (0 to 2, as OpenAI takes it; above 1 sent as
 * 1, Anthropic's maximum), `top_p` (0 to 1) and `top_k` (an integer >= 0). `null` counts as absent;
 * a value of another type or out of range is refused (`invalid_type` / `invalid_value`, naming the
 * option), never left out or moved into range silently.
 *
 * @example
 * ```ts
 * anthropicSampling({ model: 'support', messages, temperature: 1.5, top_p: 0.9 }); // { temperature: 1, top_p: 0.9 }
 * anthropicSampling({ model: 'support', messages, temperature: '0' }); // throws: Invalid type for 'temperature' ...
 * ```
 */
export function anthropicSampling(body: ChatRequestBody): JsonObject {
  const out: JsonObject = {};
  const number = (param: 'temperature' | 'top_p' | 'top_k', expected: string): number | undefined => {
    const v: unknown = body[param];
    if (absent(v)) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidType(param, expected, v);
    return v;
  };
  const temperature = number('temperature', 'a number');
  if (temperature !== undefined) {
    if (temperature < 0 || temperature > 2) throw outOfRange('temperature', 'a number from 0 to 2', temperature);
    out.temperature = Math.min(1, temperature);
  }
  const topP = number('top_p', 'a number');
  if (topP !== undefined) {
    if (topP < 0 || topP > 1) throw outOfRange('top_p', 'a number from 0 to 1', topP);
    out.top_p = topP;
  }
  const topK = number('top_k', 'an integer');
  if (topK !== undefined) {
    if (!Number.isInteger(topK)) throw invalidType('top_k', 'an integer', topK);
    if (topK < 0) throw outOfRange('top_k', 'an integer >= 0', topK);
    out.top_k = topK;
  }
  return out;
}

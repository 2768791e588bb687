/**
 * Message content of an OpenAI chat request as Anthropic content blocks. Everything is translated
 * or refused: a part, role or tool call with no faithful Anthropic form throws a
 * {@link ChatRequestError} naming its path, so nothing is dropped silently.
 */
import { createHash } from 'node:crypto';
import { isObject, type JsonObject } from './chatTypes';
import { ChatRequestError, invalidType } from './ChatRequestError';

/**
 * An Anthropic content block.
 *
 * @example
 * ```ts
 * const b: Block = { type: 'text', text: 'hi' };
 * ```
 */
export type Block = JsonObject;

/** Image types Anthropic accepts in base64 image blocks. */
const IMAGE_TYPES: readonly string[] = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'];
const DATA_URL = /^data:([^;,]*)((?:;[^;,]*)*),(.*)$/s;
const BASE64 = /^[A-Za-z0-9+/=\s]*$/;
const TOOL_ID = /^[a-zA-Z0-9_-]+$/;

/** True for a text Anthropic refuses as a text block: empty or whitespace only. */
const blank = (text: string) => text.trim() === '';

/**
 * The id of a tool call as Anthropic accepts it (`^[a-zA-Z0-9_-]+$`): a valid id as is; any other
 * (`functions.get_weather:0`, as some OpenAI-compatible upstreams make them) with each other
 * character replaced by `_` and a short hash of the original appended, so two ids that differ only
 * in those characters stay distinct. The same id always maps to the same one, in `tool_use.id` and
 * `tool_result.tool_use_id` alike.
 *
 * @example
 * ```ts
 * anthropicToolId('call_1'); // 'call_1'
 * anthropicToolId('functions.get_weather:0'); // 'functions_get_weather_0_<8 hex digits>'
 * ```
 */
export function anthropicToolId(id: string): string {
  if (TOOL_ID.test(id)) return id;
  return `${id.replace(/[^a-zA-Z0-9_-]/g, '_')}_${createHash('sha256').update(id).digest('hex').slice(0, 8)}`;
}

/**
 * Ids of the legacy `function_call` turns of one conversation, which have none of their own: the
 * n-th call of a function is `<name>_<n>` (the next free number, past the ids of the conversation's
 * `tool_calls`, `taken`), and each `function` message answers the latest unanswered call of its name
 * (a message answering no call gets the name itself, as before).
 *
 * @example
 * ```ts
 * const ids = new LegacyCallIds();
 * ids.call('lookup'); // 'lookup_1'
 * ids.result('lookup'); // 'lookup_1'
 * ```
 */
export class LegacyCallIds {
  private readonly calls = new Map<string, number>();
  private readonly unanswered = new Map<string, string[]>();

  /** `taken`: the (translated) ids of the conversation's `tool_calls`, which a legacy id must not repeat. */
  constructor(private readonly taken: ReadonlySet<string> = new Set()) {}

  /** A fresh id for a call of `name`. */
  call(name: string): string {
    let n = this.calls.get(name) ?? 0;
    let id: string;
    do id = anthropicToolId(`${name}_${++n}`);
    while (this.taken.has(id));
    this.calls.set(name, n);
    const open = this.unanswered.get(name) ?? [];
    open.push(id);
    this.unanswered.set(name, open);
    return id;
  }

  /** The id a `function` message of `name` answers. */
  result(name: string): string {
    return this.unanswered.get(name)?.pop() ?? anthropicToolId(name);
  }
}

/**
 * Where a part sits and which model the client asked for (its own name, never an upstream's), for
 * the messages of refusals.
 *
 * @example
 * ```ts
 * const at: PartPath = { path: 'messages[0].content[1]', model: 'support' };
 * ```
 */
export interface PartPath {
  path: string;
  model: string;
}

function unsupported(path: string, model: string, what: string, hint = ''): ChatRequestError {
  return new ChatRequestError(path, 'unsupported_value', `Unsupported value: ${what} in '${path}' is not supported with model \`${model}\`.${hint ? ` ${hint}` : ''}`);
}

interface DataURL {
  mediaType: string;
  base64: boolean;
  data: string;
}

function parseDataURL(url: string): DataURL | undefined {
  const m = DATA_URL.exec(url);
  if (!m) return undefined;
  return { mediaType: m[1]!.toLowerCase(), base64: m[2]!.split(';').includes('base64'), data: m[3]! };
}

function textOfPart(p: JsonObject, at: string): string {
  if (typeof p.text !== 'string') throw invalidType(`${at}.text`, 'a string', p.text);
  return p.text;
}

function imageBlock(p: JsonObject, at: PartPath): Block {
  const url = isObject(p.image_url) ? p.image_url.url : p.image_url;
  if (typeof url !== 'string') throw invalidType(`${at.path}.image_url.url`, 'a string', url);
  const data = parseDataURL(url);
  if (data) {
    if (!data.base64) throw unsupported(at.path, at.model, 'an image data URL that is not base64', 'Send it as data:<type>;base64,<data>.');
    if (!IMAGE_TYPES.includes(data.mediaType)) {
      throw unsupported(at.path, at.model, `an image of type '${data.mediaType}'`, `Supported types: ${IMAGE_TYPES.join(', ')}.`);
    }
    return { type: 'image', source: { type: 'base64', media_type: data.mediaType, data: data.data } };
  }
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw unsupported(at.path, at.model, 'an image URL that is neither http(s) nor a base64 data URL');
}

function documentBlock(p: JsonObject, at: PartPath): Block {
  const file = p.file;
  if (!isObject(file)) throw invalidType(`${at.path}.file`, 'an object', file);
  const filename = typeof file.filename === 'string' && file.filename !== '' ? file.filename : undefined;
  const title = filename !== undefined ? { title: filename } : {};
  if (typeof file.file_data === 'string') {
    const data = parseDataURL(file.file_data);
    const pdf = data ? data.base64 && data.mediaType === 'application/pdf' : filename !== undefined && /\.pdf$/i.test(filename) && BASE64.test(file.file_data);
    if (!pdf) {
      throw unsupported(at.path, at.model, `a file of type '${data?.mediaType ?? 'unknown'}'`, 'Only PDF files are supported, as data:application/pdf;base64,<data>.');
    }
    return { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: data ? data.data : file.file_data }, ...title };
  }
  if (file.file_id !== undefined) {
    throw unsupported(at.path, at.model, 'an uploaded file (file_id)', 'Send the file inline as file_data (a base64 data URL).');
  }
  throw invalidType(`${at.path}.file.file_data`, 'a string', file.file_data);
}

/**
 * Blocks of a user message: text, images (base64 data URLs of JPEG, PNG, GIF or WebP, or http(s)
 * URLs) and PDF files (`file` parts with a base64 PDF as `file_data`) become text, image and
 * document blocks; empty and whitespace-only texts are left out (Anthropic refuses them, and they
 * say nothing); any
 * other part (`input_audio`, `file_id` files, ...) is refused.
 *
 * @example
 * ```ts
 * userBlocks([{ type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBE' } }], { path: 'messages[0]', model: 'support' });
 * // [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBE' }, title: 'a.pdf' }]
 * ```
 */
export function userBlocks(content: unknown, at: PartPath): Block[] {
  if (typeof content === 'string') return blank(content) ? [] : [{ type: 'text', text: content }];
  if (content === undefined || content === null) return [];
  if (!Array.isArray(content)) throw invalidType(`${at.path}.content`, 'a string or an array of objects', content);
  const out: Block[] = [];
  content.forEach((p: unknown, j) => {
    const part: PartPath = { path: `${at.path}.content[${j}]`, model: at.model };
    if (!isObject(p)) throw invalidType(part.path, 'an object', p);
    switch (p.type) {
      case 'text': {
        const text = textOfPart(p, part.path);
        if (!blank(text)) out.push({ type: 'text', text });
        return;
      }
      case 'image_url':
        out.push(imageBlock(p, part));
        return;
      case 'file':
        out.push(documentBlock(p, part));
        return;
      default:
        throw unsupported(part.path, part.model, `a content part of type ${JSON.stringify(p.type)}`);
    }
  });
  return out;
}

/**
 * The text of a message whose content can only be text (system, developer and tool messages):
 * a string, or text parts joined; any other part is refused.
 *
 * @example
 * ```ts
 * textContent([{ type: 'text', text: 'Be ' }, { type: 'text', text: 'brief.' }], { path: 'messages[0]', model: 'support' }); // 'Be brief.'
 * ```
 */
export function textContent(content: unknown, at: PartPath, allowRefusal = false): string {
  if (typeof content === 'string') return content;
  if (content === undefined || content === null) return '';
  if (!Array.isArray(content)) throw invalidType(`${at.path}.content`, 'a string or an array of objects', content);
  return content
    .map((p: unknown, j) => {
      const path = `${at.path}.content[${j}]`;
      if (!isObject(p)) throw invalidType(path, 'an object', p);
      if (p.type === 'text') return textOfPart(p, path);
      if (allowRefusal && p.type === 'refusal') {
        if (typeof p.refusal !== 'string') throw invalidType(`${path}.refusal`, 'a string', p.refusal);
        return p.refusal;
      }
      throw unsupported(path, at.model, `a content part of type ${JSON.stringify(p.type)}`, 'This message can only hold text.');
    })
    .join('');
}

function toolInput(args: unknown, path: string): JsonObject {
  if (args === undefined || args === null || args === '') return {};
  if (typeof args !== 'string') throw invalidType(path, 'a string', args);
  let v: unknown;
  try {
    v = JSON.parse(args);
  } catch {
    throw new ChatRequestError(path, 'invalid_value', `Invalid value for '${path}': expected a JSON object, but the string is not valid JSON.`);
  }
  if (!isObject(v)) throw new ChatRequestError(path, 'invalid_value', `Invalid value for '${path}': expected a JSON object, but got ${Array.isArray(v) ? 'an array' : typeof v}.`);
  return v;
}

/**
 * A `tool_use` block of an OpenAI function call `{ name, arguments }` found at `path`, with the
 * Anthropic form of `id`, or a fresh legacy id when it has none.
 */
function toolUse(id: string | undefined, fn: unknown, path: string, legacy: LegacyCallIds): Block {
  if (!isObject(fn)) throw invalidType(path, 'an object', fn);
  if (typeof fn.name !== 'string' || fn.name === '') throw invalidType(`${path}.name`, 'a string', fn.name);
  const input = toolInput(fn.arguments, `${path}.arguments`);
  return { type: 'tool_use', id: id !== undefined ? anthropicToolId(id) : legacy.call(fn.name), name: fn.name, input };
}

/**
 * Blocks of an assistant message: its text (and refusal) as one text block (left out when empty or
 * whitespace only), its function tool calls as `tool_use` blocks with their ids in the form
 * Anthropic accepts ({@link anthropicToolId}), and a legacy `function_call` as a `tool_use` block
 * with an id from `legacy` (`<name>_<n>`, unique in the conversation). Audio replies (`audio`),
 * custom tool calls and arguments that are not a JSON object are refused.
 *
 * @example
 * ```ts
 * assistantBlocks({ role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] }, { path: 'messages[1]', model: 'support' });
 * // [{ type: 'tool_use', id: 'call_1', name: 'f', input: { a: 1 } }]
 * ```
 */
export function assistantBlocks(m: JsonObject, at: PartPath, legacy: LegacyCallIds = new LegacyCallIds()): Block[] {
  if (m.audio !== undefined && m.audio !== null) throw unsupported(`${at.path}.audio`, at.model, 'an audio reply');
  const out: Block[] = [];
  let text = textContent(m.content, at, true);
  if (typeof m.refusal === 'string') text += m.refusal;
  if (!blank(text)) out.push({ type: 'text', text });
  if (m.tool_calls !== undefined && m.tool_calls !== null) {
    if (!Array.isArray(m.tool_calls)) throw invalidType(`${at.path}.tool_calls`, 'an array', m.tool_calls);
    m.tool_calls.forEach((c: unknown, k) => {
      const path = `${at.path}.tool_calls[${k}]`;
      if (!isObject(c)) throw invalidType(path, 'an object', c);
      if (c.type !== undefined && c.type !== 'function') throw unsupported(path, at.model, `a tool call of type ${JSON.stringify(c.type)}`);
      if (typeof c.id !== 'string' || c.id === '') throw invalidType(`${path}.id`, 'a string', c.id);
      out.push(toolUse(c.id, c.function, `${path}.function`, legacy));
    });
  }
  if (m.function_call !== undefined && m.function_call !== null) out.push(toolUse(undefined, m.function_call, `${at.path}.function_call`, legacy));
  return out;
}

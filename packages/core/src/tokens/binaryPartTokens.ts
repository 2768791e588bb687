import { CHARS_PER_TOKEN } from './heuristicTokenCount';

/**
 * Least charge for a document part (a PDF or other file): one page. Anthropic bills a PDF page at
 * about 1,500–3,000 tokens (its text plus an image of the page); OpenAI's file inputs likewise send
 * each page's text and image. Also the charge of a document the request only refers to (an OpenAI
 * `file_id`, an Anthropic `url` or `file` source), whose size is unknown here.
 *
 * @example
 * ```ts
 * binaryPartTokens({ type: 'file', file: { file_id: 'file-abc' } }); // TOKENS_PER_DOCUMENT (1500)
 * ```
 */
export const TOKENS_PER_DOCUMENT = 1_500;

/**
 * Decoded bytes of a binary document per token: 32, so a 600 KB PDF is charged about 19,000 tokens
 * (a few dozen pages at Anthropic's 1,500–3,000 tokens per page), not the ~230,000 its base64 text
 * would count. Pages run from a few KB (plain text) to hundreds of KB (scans) each, so no rate fits
 * every file: this one over-charges scans and under-charges dense text PDFs by a few times, where
 * counting the base64 text over-charged scans some 12×, and refused ordinary PDFs as longer than a
 * 200k context window. Settle replaces the estimate with the provider's reported usage.
 *
 * @example
 * ```ts
 * const tokens = Math.max(TOKENS_PER_DOCUMENT, Math.ceil(pdfBytes / BYTES_PER_DOCUMENT_TOKEN));
 * ```
 */
export const BYTES_PER_DOCUMENT_TOKEN = 32;

/**
 * Decoded bytes of audio per token: 125. Providers bill audio by duration (OpenAI about 10 tokens a
 * second of input, Gemini 32); at 32 kbit/s (4,000 bytes a second, a low bitrate for speech) 125 bytes
 * per token is 32 tokens a second, the higher of the two. Higher bitrates (128 kbit/s MP3, 16-bit
 * WAV) are charged more per second than billed: the safe side for a reservation.
 *
 * @example
 * ```ts
 * const tokens = Math.ceil(audioBytes / BYTES_PER_AUDIO_TOKEN); // 1 MB of MP3 → 8,000
 * ```
 */
export const BYTES_PER_AUDIO_TOKEN = 125;

/** Bytes that `base64` (padding and line breaks included, as sent) decodes to, about. */
function base64Bytes(base64: string): number {
  return Math.floor((base64.length * 3) / 4);
}

/** A `data:` URL's payload: its bytes (base64) or its text (`text` true); plain base64 otherwise. */
function payloadOf(data: string): { bytes: number; text: boolean } {
  if (!data.startsWith('data:')) return { bytes: base64Bytes(data), text: false };
  const comma = data.indexOf(',');
  const header = comma < 0 ? data : data.slice(0, comma);
  const body = comma < 0 ? '' : data.slice(comma + 1);
  const base64 = /;base64$/i.test(header);
  // `data:text/plain;base64,...` is text sent as base64: counted as text of that many characters.
  const text = !base64 || /^data:text\//i.test(header);
  return { bytes: base64 ? base64Bytes(body) : body.length, text };
}

function documentTokens(data: string, mimeType?: unknown): number {
  const { bytes, text } = payloadOf(data);
  if (text || (typeof mimeType === 'string' && /^text\//i.test(mimeType))) return Math.ceil(bytes / CHARS_PER_TOKEN);
  return Math.max(TOKENS_PER_DOCUMENT, Math.ceil(bytes / BYTES_PER_DOCUMENT_TOKEN));
}

/** Bytes of a LangChain block's `data`: base64 text (or a `data:` URL), or raw bytes (`Uint8Array`). */
function dataBytes(data: unknown): number | undefined {
  if (typeof data === 'string') return payloadOf(data).bytes;
  return data instanceof Uint8Array ? data.byteLength : undefined;
}

/**
 * LangChain's provider-neutral blocks (`@langchain/core` messages): `{ type: 'file' | 'audio',
 * source_type: 'base64', data, mime_type }` (and `source_type` `url` or `id`), or the v1 standard
 * `{ type, data, mimeType }` (data base64 or a `Uint8Array`; `url` or `fileId` by reference).
 * Undefined when `part` is neither.
 */
function langChainBlockTokens(part: Record<string, unknown>, kind: 'file' | 'audio'): number | undefined {
  const source = part.source_type;
  const mimeType = part.mime_type ?? part.mimeType;
  const byReference = source === 'url' || source === 'id' || (source === undefined && (typeof part.url === 'string' || typeof part.fileId === 'string'));
  if (source === 'base64' || (source === undefined && part.data !== undefined)) {
    if (kind === 'file' && typeof part.data === 'string') return documentTokens(part.data, mimeType);
    const bytes = dataBytes(part.data);
    if (bytes === undefined) return undefined;
    if (kind === 'audio') return Math.ceil(bytes / BYTES_PER_AUDIO_TOKEN);
    return typeof mimeType === 'string' && /^text\//i.test(mimeType)
      ? Math.ceil(bytes / CHARS_PER_TOKEN)
      : Math.max(TOKENS_PER_DOCUMENT, Math.ceil(bytes / BYTES_PER_DOCUMENT_TOKEN));
  }
  // A file by reference: one page. Audio by reference has no size to go by: left to the caller.
  return byReference && kind === 'file' ? TOKENS_PER_DOCUMENT : undefined;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/**
 * The charge of a content part that carries a binary file, audio or a reference to a document, or
 * `undefined` for any other part (text, images, tool calls, which the caller counts itself). Such
 * payloads are base64: counting their text would charge a PDF about ten times what providers bill
 * and refuse it as too long for the context window. Instead:
 *
 * | part | charge |
 * |---|---|
 * | OpenAI `{ type: 'file', file: { file_data } }`, Responses `{ type: 'input_file', file_data }`, Anthropic `{ type: 'document', source: { type: 'base64', data } }` | decoded bytes / {@link BYTES_PER_DOCUMENT_TOKEN}, at least {@link TOKENS_PER_DOCUMENT} |
 * | the same with a `data:text/...` URL (a text file) | decoded bytes / 3.5, as text |
 * | a document by reference (`file_id`, Anthropic `url` or `file` source) | {@link TOKENS_PER_DOCUMENT} |
 * | OpenAI `{ type: 'input_audio', input_audio: { data } }` | decoded bytes / {@link BYTES_PER_AUDIO_TOKEN} |
 * | LangChain `{ type: 'file', source_type: 'base64', data, mime_type }` or v1 `{ type: 'file', data, mimeType }` | as a file above (a `text/*` type as text); by `url`/`id`/`fileId`: {@link TOKENS_PER_DOCUMENT} |
 * | LangChain `{ type: 'audio', source_type: 'base64', data }` or v1 `{ type: 'audio', data, mimeType }` | as audio above (`data` base64 or a `Uint8Array`) |
 *
 * Sizes come from the base64 length (nothing is decoded). Anthropic documents with a `text` or
 * `content` source are not binary: `undefined`, counted as their text by the caller.
 *
 * @example
 * ```ts
 * binaryPartTokens({ type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0xLjQK' } }); // 1500
 * binaryPartTokens({ type: 'input_audio', input_audio: { data: base64Of1MBMp3, format: 'mp3' } });   // 8000 (1,000,000 bytes)
 * binaryPartTokens({ type: 'text', text: 'hi' });                                                   // undefined
 * ```
 */
export function binaryPartTokens(part: { type?: unknown } & Record<string, unknown>): number | undefined {
  switch (part.type) {
    case 'file': {
      const file = record(part.file);
      if (file === undefined) return langChainBlockTokens(part, 'file');
      if (typeof file.file_data === 'string') return documentTokens(file.file_data);
      return typeof file.file_id === 'string' ? TOKENS_PER_DOCUMENT : undefined;
    }
    case 'input_file': {
      if (typeof part.file_data === 'string') return documentTokens(part.file_data);
      return typeof part.file_id === 'string' || typeof part.file_url === 'string' ? TOKENS_PER_DOCUMENT : undefined;
    }
    case 'document': {
      const source = record(part.source);
      if (source === undefined) return undefined;
      if (source.type === 'base64' && typeof source.data === 'string') return documentTokens(source.data);
      return source.type === 'url' || source.type === 'file' ? TOKENS_PER_DOCUMENT : undefined;
    }
    case 'audio':
      return langChainBlockTokens(part, 'audio');
    case 'input_audio': {
      const audio = record(part.input_audio);
      if (audio === undefined || typeof audio.data !== 'string') return undefined;
      return Math.ceil(payloadOf(audio.data).bytes / BYTES_PER_AUDIO_TOKEN);
    }
    default:
      return undefined;
  }
}

import { binaryPartTokens, BYTES_PER_AUDIO_TOKEN, BYTES_PER_DOCUMENT_TOKEN, TOKENS_PER_DOCUMENT } from './binaryPartTokens';

/** Base64 of `bytes` bytes (their value does not matter: only the length is read). */
const base64Of = (bytes: number) => 'A'.repeat(Math.ceil(bytes / 3) * 4);

describe('binaryPartTokens', () => {
  it('charges a PDF by its decoded size, one token per 32 bytes, far below its base64 text', () => {
    const pdf = base64Of(600 * 1024);
    const tokens = Math.ceil((600 * 1024) / BYTES_PER_DOCUMENT_TOKEN);
    expect(tokens).toBe(19_200);
    expect(binaryPartTokens({ type: 'file', file: { filename: 'a.pdf', file_data: `data:application/pdf;base64,${pdf}` } })).toBe(tokens);
    expect(binaryPartTokens({ type: 'input_file', filename: 'a.pdf', file_data: `data:application/pdf;base64,${pdf}` })).toBe(tokens);
    expect(binaryPartTokens({ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: pdf } })).toBe(tokens);
  });

  it('charges at least one page for a small PDF', () => {
    expect(binaryPartTokens({ type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0xLjQK' } })).toBe(TOKENS_PER_DOCUMENT);
    expect(binaryPartTokens({ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: base64Of(10_000) } })).toBe(TOKENS_PER_DOCUMENT);
  });

  it('charges one page for a document it only refers to', () => {
    expect(binaryPartTokens({ type: 'file', file: { file_id: 'file-abc' } })).toBe(TOKENS_PER_DOCUMENT);
    expect(binaryPartTokens({ type: 'input_file', file_id: 'file-abc' })).toBe(TOKENS_PER_DOCUMENT);
    expect(binaryPartTokens({ type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } })).toBe(TOKENS_PER_DOCUMENT);
    expect(binaryPartTokens({ type: 'document', source: { type: 'file', file_id: 'file_abc' } })).toBe(TOKENS_PER_DOCUMENT);
  });

  it('counts a text file sent as a data URL as text (3.5 characters a token), not at the binary rate', () => {
    const csv = base64Of(10_500);
    expect(binaryPartTokens({ type: 'file', file: { file_data: `data:text/csv;base64,${csv}` } })).toBe(3_000);
    expect(binaryPartTokens({ type: 'file', file: { file_data: 'data:,Hello%2C%20world' } })).toBe(Math.ceil(16 / 3.5));
  });

  it('charges audio by its decoded size, one token per 125 bytes (32 tokens a second at 32 kbit/s)', () => {
    const oneSecondAt32kbps = 4_000;
    expect(oneSecondAt32kbps / BYTES_PER_AUDIO_TOKEN).toBe(32);
    expect(binaryPartTokens({ type: 'input_audio', input_audio: { data: base64Of(1_000_002), format: 'mp3' } })).toBe(8_001);
  });

  it("charges LangChain's own file and audio blocks (v0.3 source_type and v1 standard) as the providers' parts", () => {
    const pdf = 'A'.repeat(Math.ceil((600 * 1024) / 3) * 4); // 600 KB as base64
    const bytes = Math.floor((pdf.length * 3) / 4);
    const asPdf = Math.ceil(bytes / BYTES_PER_DOCUMENT_TOKEN);
    expect(binaryPartTokens({ type: 'file', source_type: 'base64', mime_type: 'application/pdf', data: pdf })).toBe(asPdf);
    expect(binaryPartTokens({ type: 'file', data: pdf, mimeType: 'application/pdf' })).toBe(asPdf);
    expect(binaryPartTokens({ type: 'file', data: new Uint8Array(bytes), mimeType: 'application/pdf' })).toBe(asPdf);
    expect(binaryPartTokens({ type: 'file', source_type: 'url', url: 'https://example.com/a.pdf' })).toBe(TOKENS_PER_DOCUMENT);
    expect(binaryPartTokens({ type: 'file', source_type: 'id', id: 'file-abc' })).toBe(TOKENS_PER_DOCUMENT);
    expect(binaryPartTokens({ type: 'file', fileId: 'file-abc' })).toBe(TOKENS_PER_DOCUMENT);
    // A text file is text: 3.5 characters (here bytes) a token.
    expect(binaryPartTokens({ type: 'file', data: Buffer.from('x'.repeat(699)).toString('base64'), mimeType: 'text/csv' })).toBe(200);
    expect(binaryPartTokens({ type: 'audio', source_type: 'base64', mime_type: 'audio/mp3', data: 'A'.repeat(1_000) })).toBe(Math.ceil(750 / BYTES_PER_AUDIO_TOKEN));
    expect(binaryPartTokens({ type: 'audio', data: new Uint8Array(125_000), mimeType: 'audio/wav' })).toBe(1_000);
    // Audio by reference has no size: left to the caller, as a text block is.
    expect(binaryPartTokens({ type: 'audio', source_type: 'url', url: 'https://example.com/a.mp3' })).toBeUndefined();
    expect(binaryPartTokens({ type: 'file', source_type: 'text', text: 'hello' })).toBeUndefined();
  });

  it('leaves other parts, text documents and malformed binary parts to the caller', () => {
    expect(binaryPartTokens({ type: 'text', text: 'hi' })).toBeUndefined();
    expect(binaryPartTokens({ type: 'tool_use', id: 't1', name: 'f', input: {} })).toBeUndefined();
    expect(binaryPartTokens({ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'The grass is green.' } })).toBeUndefined();
    expect(binaryPartTokens({ type: 'document', source: { type: 'content', content: [{ type: 'text', text: 'a' }] } })).toBeUndefined();
    expect(binaryPartTokens({ type: 'file', file: 'x' })).toBeUndefined();
    expect(binaryPartTokens({ type: 'file', file: {} })).toBeUndefined();
    expect(binaryPartTokens({ type: 'input_audio', input_audio: { data: 5 } })).toBeUndefined();
    expect(binaryPartTokens({ type: 'document' })).toBeUndefined();
  });
});

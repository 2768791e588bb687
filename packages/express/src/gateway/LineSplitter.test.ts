import { LineSplitter } from './LineSplitter';

/** Every line `pieces` end, pushed one after another into one splitter. */
function linesOf(pieces: string[], lines = new LineSplitter()): string[] {
  const out: string[] = [];
  for (const p of pieces) out.push(...lines.push(p));
  return out;
}

describe('LineSplitter', () => {
  it('splits on \\n, \\r\\n and \\r, without the line ends, and keeps the unfinished line for later', () => {
    const lines = new LineSplitter();
    expect(linesOf(['a\nb\r\nc\rd\n\n', 'e'], lines)).toEqual(['a', 'b', 'c', 'd', '']);
    expect(lines.pendingLength).toBe(1);
    expect([...lines.push('f\n')]).toEqual(['ef']);
    expect(lines.pendingLength).toBe(0);
  });

  it('ends a line at a \\r that ends a piece, and skips the \\n of that \\r\\n at the start of the next', () => {
    const lines = new LineSplitter();
    expect([...lines.push('data: a\r')]).toEqual(['data: a']);
    expect([...lines.push('\n\r')]).toEqual(['']);
    expect([...lines.push('\ndata: b\r')]).toEqual(['data: b']);
    expect([...lines.push('x\n')]).toEqual(['x']);
  });

  it('remembers a \\r that ended a piece across empty pieces (a chunk holding only part of a character)', () => {
    expect(linesOf(['a\r', '', '', '\nb\n'])).toEqual(['a', 'b']);
    expect(linesOf(['a\r', '', 'b\n'])).toEqual(['a', 'b']);
  });

  it('joins a line that arrives in many pieces, long and short, in order', () => {
    const long = 'x'.repeat(10_000);
    const pieces = ['data: '];
    for (let i = 0; i < 5_000; i += 1) pieces.push(String.fromCharCode(97 + (i % 26)));
    pieces.push(long, 'é', '🌍', long);
    for (let i = 0; i < 300; i += 1) pieces.push(`${i},`);
    pieces.push('\nnext\n');
    const expected = pieces.join('').split('\n');
    const lines = new LineSplitter();
    expect(linesOf(pieces, lines)).toEqual(expected.slice(0, -1));
    expect(lines.pendingLength).toBe(0);
  });

  it('counts the unfinished line in characters as it grows', () => {
    const lines = new LineSplitter();
    let length = 0;
    for (let i = 0; i < 1_000; i += 1) {
      const piece = i % 2 === 0 ? 'ab' : 'é'.repeat(300);
      expect([...lines.push(piece)]).toEqual([]);
      length += piece.length;
      expect(lines.pendingLength).toBe(length);
    }
  });

  it('joins pieces that arrive a character at a time in groups, so their number stays a fraction of the characters', () => {
    const lines = new LineSplitter();
    for (let i = 0; i < 64_000; i += 1) expect([...lines.push('z')]).toEqual([]);
    // Internal state, read on purpose: each piece costs a string header and an array slot (some 40
    // bytes) besides its characters, so 64 000 one-character pieces must not be kept as such.
    const held = (lines as unknown as { pieces: string[] }).pieces;
    expect(held.length).toBeLessThanOrEqual(64_000 / 64 + 64);
    expect(held.every((p) => p.length > 0)).toBe(true);
    expect([...lines.push('\n')]).toEqual(['z'.repeat(64_000)]);
  });

  it('keeps long pieces as they came (joined only when the line ends)', () => {
    const lines = new LineSplitter();
    const piece = 'q'.repeat(16 * 1024);
    for (let i = 0; i < 200; i += 1) expect([...lines.push(piece)]).toEqual([]);
    expect((lines as unknown as { pieces: string[] }).pieces).toHaveLength(200);
    const [line] = [...lines.push('\n')];
    expect(line).toHaveLength(200 * 16 * 1024);
  });
});

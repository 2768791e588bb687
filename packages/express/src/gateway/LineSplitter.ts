/** Pieces of an unfinished line are looked at in groups of this many (see {@link LineSplitter}). */
const GROUP = 64;

/**
 * A group of pieces shorter than this on average is joined into one piece: each piece costs a
 * string header and an array slot (some 40 bytes) besides its characters, which must not outweigh
 * them when a line arrives a few characters at a time.
 */
const SHORT_PIECE = 256;

/**
 * Splits text that arrives in pieces (decoded chunks of a stream) into lines ended by `\n`, `\r\n`
 * or `\r`, the line ends of `text/event-stream`, a `\r\n` split between two pieces included. Lines
 * are given without their line end.
 *
 * Each piece is searched once, and only for its own line ends; the line not ended yet is kept as the
 * pieces it arrived in (their length in {@link LineSplitter.pendingLength}) and joined once, when
 * its line end comes. So a line of any length costs time linear in its length, however many pieces
 * it comes in, and memory a small factor of it: pieces that arrive a few characters each are joined
 * in groups of 64 (each character copied at most once more).
 *
 * @example
 * ```ts
 * const lines = new LineSplitter();
 * [...lines.push('data: a\r')]; // ['data: a']
 * [...lines.push('\ndata: b')]; // [] ('\n' ends no line: it was the rest of '\r\n')
 * lines.pendingLength; // 7 ('data: b')
 * [...lines.push('c\n')]; // ['data: bc']
 * ```
 */
export class LineSplitter {
  private readonly lineEnd = /\r\n|\r|\n/g;
  /** The line not ended yet, as the pieces it arrived in (none are empty). */
  private pieces: string[] = [];
  /** Characters in `pieces`. */
  private length = 0;
  /** Pieces before this index are no longer joined in groups: only what arrived since is. */
  private settled = 0;
  /** Characters in `pieces` before `settled`. */
  private settledLength = 0;
  /** The last text ended with a `\r` that ended a line: a `\n` starting the next text belongs to it. */
  private afterCR = false;

  /**
   * Characters of the line not ended yet (what {@link LineSplitter.push} keeps for later).
   *
   * @example
   * ```ts
   * const lines = new LineSplitter();
   * [...lines.push('data: {"a"')];
   * lines.pendingLength; // 10
   * ```
   */
  get pendingLength(): number {
    return this.length;
  }

  /**
   * The lines that `text` ends, in order, each without its line end. What follows the last line end
   * is kept, as the start of the next line. A `\r` at the end of `text` ends its line at once (a `\n`
   * at the start of the next text is then skipped as the rest of `\r\n`), so no line waits for more
   * text than its own.
   *
   * @example
   * ```ts
   * const lines = new LineSplitter();
   * for (const line of lines.push('event: ping\ndata: {}\n\n')) console.log(JSON.stringify(line));
   * // "event: ping", "data: {}", ""
   * ```
   */
  *push(text: string): Generator<string> {
    if (text === '') return; // a chunk holding only part of a character: nothing to see yet
    let from = 0;
    if (this.afterCR) {
      this.afterCR = false;
      if (text.charCodeAt(0) === 10) from = 1;
    }
    for (;;) {
      this.lineEnd.lastIndex = from;
      const m = this.lineEnd.exec(text);
      if (m === null) break;
      if (m[0] === '\r' && m.index === text.length - 1) this.afterCR = true;
      const line = this.end(text.slice(from, m.index));
      from = m.index + m[0].length;
      yield line;
    }
    if (from < text.length) this.keep(from === 0 ? text : text.slice(from));
  }

  /** The line that `last` (its last piece, maybe empty) ends; the pieces are let go. */
  private end(last: string): string {
    if (this.pieces.length === 0) return last;
    this.pieces.push(last);
    const line = this.pieces.join('');
    this.pieces = [];
    this.length = 0;
    this.settled = 0;
    this.settledLength = 0;
    return line;
  }

  /** Keeps `piece` (not empty) of the line not ended yet. */
  private keep(piece: string): void {
    this.pieces.push(piece);
    this.length += piece.length;
    if (this.pieces.length - this.settled < GROUP) return;
    // A full group since the last: joined into one piece when its pieces are short, so that their
    // headers do not outweigh their characters; each character is copied once here at most.
    const groupLength = this.length - this.settledLength;
    if (groupLength < GROUP * SHORT_PIECE) this.pieces.push(this.pieces.splice(this.settled).join(''));
    this.settled = this.pieces.length;
    this.settledLength = this.length;
  }
}

/**
 * The assistant's streamed deltas in the transcript: one bubble per run of an agent's
 * deltas, its answer in `.body` blocks and its reasoning (`thought` deltas) in blocks of
 * their own — a `<details>` folded by default — so reasoning never runs into the
 * answer's paragraph. A change of part opens a new block, keeping the order they came in.
 * The answer's text is rendered whole again on each delta (`showText`: Markdown in the
 * webview), since a delta may close a code block or a list opened before it.
 */

export type StreamPart = 'text' | 'thought';

/** What the stream needs of the page; the webview passes `document`, tests a small fake. */
export type Doc = Pick<Document, 'createElement'>;

interface Block {
  agent: string;
  bubble: HTMLElement;
  part: StreamPart;
  body: HTMLElement;
  /** The text streamed into this block so far. */
  text: string;
  /** A thought's summary line, which says whether the model is still thinking. */
  summary?: HTMLElement;
}

/** Shows a block of the answer's text; by default as plain text. */
export type ShowText = (body: HTMLElement, text: string) => void;

const plain: ShowText = (body, text) => {
  body.textContent = text;
};

export const THINKING = 'Thinking…';
export const THOUGHT = 'Thoughts';

export class Stream {
  private current: Block | undefined;
  /** The answer's text streamed since something else was shown, thoughts aside. */
  private answer = '';

  constructor(
    private readonly doc: Doc,
    /** Appends a new bubble to the transcript. */
    private readonly place: (bubble: HTMLElement) => void,
    private readonly showText: ShowText = plain,
  ) {}

  add(agent: string, part: StreamPart, delta: string): void {
    let block = this.current;
    if (block === undefined || block.agent !== agent) {
      this.end();
      const bubble = this.element('div', 'message assistant');
      bubble.append(this.element('div', 'who', agent));
      this.place(bubble);
      block = this.open(agent, bubble, part);
    } else if (block.part !== part) {
      this.settle(block);
      block = this.open(agent, block.bubble, part);
    }
    block.text += delta;
    if (block.part === 'text') {
      this.answer += delta;
      this.showText(block.body, block.text);
    } else block.body.textContent = block.text;
  }

  /** The text streamed since something else was shown (the turn's answer, when it ends the turn). */
  streamed(): string {
    return this.answer;
  }

  /** Something else was shown: the next delta starts a new bubble. */
  end(): void {
    if (this.current !== undefined) this.settle(this.current);
    this.current = undefined;
    this.answer = '';
  }

  private open(agent: string, bubble: HTMLElement, part: StreamPart): Block {
    let block: Block;
    if (part === 'thought') {
      const details = this.element('details', 'thought');
      const summary = this.element('summary', '', THINKING);
      const body = this.element('div', 'thought-body');
      details.append(summary, body);
      bubble.append(details);
      block = { agent, bubble, part, body, text: '', summary };
    } else {
      const body = this.element('div', 'body');
      bubble.append(body);
      block = { agent, bubble, part, body, text: '' };
    }
    this.current = block;
    return block;
  }

  private settle(block: Block): void {
    if (block.summary !== undefined) block.summary.textContent = THOUGHT;
  }

  private element(tag: string, className: string, content?: string): HTMLElement {
    const node = this.doc.createElement(tag);
    node.className = className;
    if (content !== undefined) node.textContent = content;
    return node;
  }
}

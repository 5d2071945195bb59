/**
 * The assistant's streamed deltas in the transcript: one bubble per run of an agent's
 * deltas, its answer in `.body` blocks and its reasoning (`thought` deltas) in blocks of
 * their own — a `<details>` folded by default — so reasoning never runs into the
 * answer's paragraph. A change of part opens a new block, keeping the order they came in.
 */

export type StreamPart = 'text' | 'thought';

/** What the stream needs of the page; the webview passes `document`, tests a small fake. */
export type Doc = Pick<Document, 'createElement'>;

interface Block {
  agent: string;
  bubble: HTMLElement;
  part: StreamPart;
  body: HTMLElement;
  /** A thought's summary line, which says whether the model is still thinking. */
  summary?: HTMLElement;
}

export const THINKING = 'Thinking…';
export const THOUGHT = 'Thoughts';

export class Stream {
  private current: Block | undefined;

  constructor(
    private readonly doc: Doc,
    /** Appends a new bubble to the transcript. */
    private readonly place: (bubble: HTMLElement) => void,
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
    block.body.textContent += delta;
  }

  /** Something else was shown: the next delta starts a new bubble. */
  end(): void {
    if (this.current !== undefined) this.settle(this.current);
    this.current = undefined;
  }

  private open(agent: string, bubble: HTMLElement, part: StreamPart): Block {
    let block: Block;
    if (part === 'thought') {
      const details = this.element('details', 'thought');
      const summary = this.element('summary', '', THINKING);
      const body = this.element('div', 'thought-body');
      details.append(summary, body);
      bubble.append(details);
      block = { agent, bubble, part, body, summary };
    } else {
      const body = this.element('div', 'body');
      bubble.append(body);
      block = { agent, bubble, part, body };
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

import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { type Doc, Stream, THINKING, THOUGHT } from '../../src/webview/stream';

/** The little of the DOM the stream uses: elements with a class, text and children. */
class FakeElement {
  className = '';
  textContent = '';
  readonly children: FakeElement[] = [];
  constructor(readonly tagName: string) {}
  append(...nodes: FakeElement[]): void {
    this.children.push(...nodes);
  }
}

/** An element as `[tag.class, text]`, or `[tag.class, ...children]` when it has some. */
type Shape = Array<string | Shape>;
function shape(node: FakeElement): Shape {
  const name = node.className ? `${node.tagName}.${node.className.replace(/ /g, '.')}` : node.tagName;
  return node.children.length > 0 ? [name, ...node.children.map(shape)] : [name, node.textContent];
}

const doc: Doc = { createElement: (tag: string) => new FakeElement(tag) as unknown as HTMLElement } as Doc;
let log: FakeElement[];
let stream: Stream;

beforeEach(() => {
  log = [];
  stream = new Stream(doc, (bubble) => log.push(bubble as unknown as FakeElement));
});

describe('the streamed transcript', () => {
  it('folds a thought apart from the answer, in the order they came', () => {
    stream.add('code', 'thought', 'The user wants ');
    stream.add('code', 'thought', 'a.py.');
    assert.deepEqual(log.map(shape), [
      [
        'div.message.assistant',
        ['div.who', 'code'],
        ['details.thought', ['summary', THINKING], ['div.thought-body', 'The user wants a.py.']],
      ],
    ]);

    stream.add('code', 'text', 'Wrote ');
    stream.add('code', 'text', 'a.py.');
    stream.add('code', 'thought', 'Anything else?');
    stream.add('code', 'text', ' Done.');
    stream.end();
    assert.deepEqual(log.map(shape), [
      [
        'div.message.assistant',
        ['div.who', 'code'],
        ['details.thought', ['summary', THOUGHT], ['div.thought-body', 'The user wants a.py.']],
        ['div.body', 'Wrote a.py.'],
        ['details.thought', ['summary', THOUGHT], ['div.thought-body', 'Anything else?']],
        ['div.body', ' Done.'],
      ],
    ]);
  });

  it("starts a new bubble for another agent or after something else was shown, and marks a thought's end", () => {
    stream.add('architect', 'text', 'A plan.');
    stream.add('code', 'thought', 'Step one.');
    stream.end();
    stream.add('code', 'text', 'Wrote it.');
    assert.deepEqual(log.map(shape), [
      ['div.message.assistant', ['div.who', 'architect'], ['div.body', 'A plan.']],
      [
        'div.message.assistant',
        ['div.who', 'code'],
        ['details.thought', ['summary', THOUGHT], ['div.thought-body', 'Step one.']],
      ],
      ['div.message.assistant', ['div.who', 'code'], ['div.body', 'Wrote it.']],
    ]);
  });
});

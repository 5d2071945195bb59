import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JSDOM } from 'jsdom';
import { markdownRenderer } from '../../src/webview/markdown';

const { window } = new JSDOM('<!DOCTYPE html><body></body>');
const render = markdownRenderer(window as unknown as Window & typeof globalThis);

/** The rendered HTML as the page would hold it. */
function dom(markdown: string): HTMLElement {
  const node = window.document.createElement('div');
  node.innerHTML = render(markdown);
  return node;
}

describe('Markdown in the chat', () => {
  it('renders headings, emphasis, lists, code and tables', () => {
    const node = dom(
      [
        '## Plan',
        '',
        'Write **two** files and run `pytest`:',
        '',
        '1. `app.py`',
        '2. `test_app.py`',
        '',
        '```python',
        'def main() -> None:',
        '    print("<hi>")',
        '```',
        '',
        '| file | lines |',
        '|---|---|',
        '| app.py | 3 |',
      ].join('\n'),
    );
    assert.equal(node.querySelector('h2')?.textContent, 'Plan');
    assert.equal(node.querySelector('strong')?.textContent, 'two');
    assert.deepEqual(
      [...node.querySelectorAll('ol > li')].map((li) => li.textContent),
      ['app.py', 'test_app.py'],
    );
    assert.equal(node.querySelector('pre > code')?.textContent, 'def main() -> None:\n    print("<hi>")\n');
    assert.equal(node.querySelector('td')?.textContent, 'app.py');
  });

  it('shows raw HTML as text, never as markup', () => {
    const node = dom('Look: <img src=x onerror="alert(1)"> and <script>alert(2)</script> <b>bold?</b>');
    assert.equal(node.querySelector('img, script, b'), null);
    assert.match(node.textContent ?? '', /<img src=x onerror="alert\(1\)">/);
    assert.match(node.textContent ?? '', /<script>alert\(2\)<\/script>/);
  });

  it('drops script links and data URLs; other links open outside, without a referrer', () => {
    const node = dom(
      '[run](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=) [docs](https://example.com/a)',
    );
    const links = [...node.querySelectorAll('a')];
    assert.deepEqual(
      links.map((a) => a.getAttribute('href')),
      ['https://example.com/a'],
    );
    assert.equal(links[0]?.getAttribute('target'), '_blank');
    assert.equal(links[0]?.getAttribute('rel'), 'noopener noreferrer');
    assert.match(node.textContent ?? '', /\[run\]\(javascript:alert\(1\)\)/);
  });

  it('removes what the sanitiser refuses even when markdown-it lets it through', () => {
    // An image renders as <img>: media is refused in the chat (the webview's CSP blocks it too).
    const node = dom('![pixel](https://tracker.example/p.gif) and text');
    assert.equal(node.querySelector('img'), null);
    assert.match(node.textContent ?? '', /and text/);
    for (const element of node.querySelectorAll('*')) {
      for (const attribute of element.getAttributeNames()) {
        assert.ok(!attribute.startsWith('on') && attribute !== 'style', `${element.tagName} kept ${attribute}`);
      }
    }
  });
});

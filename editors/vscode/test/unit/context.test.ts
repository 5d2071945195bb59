import '../stubs/register';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { contextBlock, MAX_QUOTE_CHARS } from '../../src/core/context';
import { INSTALL_COMMAND, startFailure } from '../../src/core/install';
import { quoteEditor } from '../../src/editor/context';
import * as vscode from '../stubs/vscode';

describe('the selection or the file as context', () => {
  it('quotes a selection with its file and lines', () => {
    assert.equal(
      contextBlock({
        path: 'src/app.py',
        languageId: 'python',
        text: 'def f():\n    return 1',
        lines: { start: 3, end: 4 },
      }),
      'Context: `src/app.py` lines 3–4\n\n```python\ndef f():\n    return 1\n```\n',
    );
    assert.equal(
      contextBlock({ path: 'a.txt', languageId: 'plaintext', text: 'one line\n', lines: { start: 7, end: 7 } }),
      'Context: `a.txt` line 7\n\n```\none line\n```\n',
    );
  });

  it('quotes a whole file, with a fence longer than any inside it', () => {
    const readme = '# Title\n\n```sh\nnpm test\n```\n';
    assert.equal(
      contextBlock({ path: 'README.md', languageId: 'markdown', text: readme }),
      `Context: \`README.md\`\n\n\`\`\`\`markdown\n${readme}\`\`\`\`\n`,
    );
  });

  it('names a file too long to quote instead of quoting it', () => {
    const text = 'x'.repeat(MAX_QUOTE_CHARS + 1);
    const block = contextBlock({ path: 'big.json', languageId: 'json', text });
    assert.ok(!block.includes('xxxx'), 'the text is not quoted');
    assert.match(block, /^Context: `big\.json` \(40,001 characters, too long to quote: read it\)\.\n$/);
  });
});

describe('the start-up error', () => {
  const message = startFailure('codelab-agent', 'spawn codelab-agent ENOENT');

  it('says how to install the sidecar from this repository, as its README does', () => {
    assert.match(message, /^Could not start the sidecar \(codelab-agent\): spawn codelab-agent ENOENT\./);
    assert.ok(message.includes(INSTALL_COMMAND), message);
    assert.ok(message.includes('codelab.serverPath'), message);
    const readme = readFileSync(path.resolve(__dirname, '../../../../README.md'), 'utf8');
    assert.ok(readme.includes(INSTALL_COMMAND), 'the README gives the same command');
  });

  it('never sends the user to a package index that does not have it', () => {
    assert.doesNotMatch(message, /pip install codelab-agent/);
    assert.doesNotMatch(message, /pip install (-U )?codelab/);
  });
});

describe('the commands Send Selection / Send File to Chat', () => {
  const text = 'import os\n\ndef main():\n    print(os.getcwd())\n';
  const offset = (line: number, character: number): number =>
    text.split('\n').slice(0, line).join('\n').length + (line > 0 ? 1 : 0) + character;
  function editor(start: [number, number], end: [number, number]): never {
    const selection = {
      start: { line: start[0], character: start[1] },
      end: { line: end[0], character: end[1] },
      isEmpty: start[0] === end[0] && start[1] === end[1],
    };
    const document = {
      uri: vscode.Uri.file('/ws/src/main.py'),
      languageId: 'python',
      getText: (range?: typeof selection) =>
        range
          ? text.slice(offset(range.start.line, range.start.character), offset(range.end.line, range.end.character))
          : text,
    };
    return { document, selection } as never;
  }

  it('quotes the selected lines, the file named relative to the workspace', () => {
    vscode.reset();
    vscode.state.root = '/ws';
    assert.equal(
      quoteEditor(editor([2, 0], [4, 0]), 'selection'),
      'Context: `src/main.py` lines 3–4\n\n```python\ndef main():\n    print(os.getcwd())\n```\n',
    );
  });

  it('quotes the whole file for Send File, or for an empty selection', () => {
    vscode.state.root = '/ws';
    const whole = `Context: \`src/main.py\`\n\n\`\`\`python\n${text}\`\`\`\n`;
    assert.equal(quoteEditor(editor([1, 0], [1, 0]), 'selection'), whole);
    assert.equal(quoteEditor(editor([2, 0], [3, 4]), 'file'), whole);
    assert.equal(quoteEditor(undefined, 'file'), undefined);
  });
});

/**
 * The chat as a user meets it: the real webview page (in jsdom), the session controller
 * and the approvals in the chat, the VS Code tool host (over the vscode stub, on a real
 * temp directory), against the real sidecar with its offline `demo` model. The user
 * types into the page and clicks its buttons; nothing else answers.
 */
import '../stubs/register';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { SessionController } from '../../src/core/controller';
import { ToolExecutor } from '../../src/core/tools';
import { ChatApprovals, ProposalDocuments } from '../../src/editor/approvals';
import { VsCodeToolHost } from '../../src/editor/host';
import type { FromView } from '../../src/webview/messages';
import * as vscode from '../stubs/vscode';
import { findServer, type Sidecar, startSidecar } from '../support/sidecar';
import { type ChatPage, loadChat } from '../support/webview';

const server = findServer();
let scratch: string;
let workspace: string;
let sidecar: Sidecar;

async function until(predicate: () => boolean, what: string, timeout = 15000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const skip = server === undefined ? 'codelab-agent not found' : false;

describe('the chat against the real sidecar', { skip }, () => {
  let page: ChatPage;
  let controller: SessionController;
  let approvals: ChatApprovals;

  before(async () => {
    scratch = await fs.realpath(await fs.mkdtemp(path.join(tmpdir(), 'codelab-chat-')));
    workspace = path.join(scratch, 'workspace');
    await fs.mkdir(workspace);
    sidecar = await startSidecar(server as string, workspace, path.join(scratch, 'agent.db'));
  });

  after(async () => {
    await sidecar?.stop();
    await fs.rm(scratch, { recursive: true, force: true });
  });

  beforeEach(async () => {
    vscode.reset();
    // The extension's wiring (src/extension.ts), without VS Code around it.
    const route = (message: FromView): void => {
      if (message.type === 'ready' || approvals.receive(message)) return;
      if (message.type === 'send') void controller.send(message.text, message.mode);
      if (message.type === 'cancel') void controller.cancel();
    };
    page = await loadChat(route);
    approvals = new ChatApprovals(new ProposalDocuments(), (event) => page.deliver({ type: 'event', event }));
    controller = new SessionController(sidecar.connection, new ToolExecutor(new VsCodeToolHost(workspace)), approvals);
    controller.onEvent((event) => page.deliver({ type: 'event', event }));
    page.deliver({ type: 'server', state: 'running' });
  });

  afterEach(() => {
    controller.dispose();
    page.close();
  });

  const card = (name: string): HTMLElement | undefined =>
    [...page.document.querySelectorAll<HTMLElement>('.tool')].find((c) => c.textContent?.includes(name));
  const turnDone = (): boolean => !controller.state.busy && controller.state.last?.status === 'completed';

  it("asks in the call's card; the Approve clicked there answers the call", async () => {
    page.type('create hello.py that prints hello', 'code');
    await until(() => card('hello.py')?.querySelector('.approval') != null, 'the question in the card');
    const asking = card('hello.py') as HTMLElement;
    assert.equal(asking.querySelector('.approval .ask')?.textContent, 'Write hello.py?');
    const buttons = page.buttons(asking.querySelector('.approval') as Element);
    assert.deepEqual(buttons, ['Approve', 'Always', 'Reject', 'Show diff']);
    assert.deepEqual(vscode.state.dialogs, [], 'no quick pick or input box');
    await assert.rejects(fs.stat(path.join(workspace, 'hello.py')), 'nothing written before the click');

    page.click(asking, 'Show diff');
    await until(() => vscode.state.tabs.length === 1, 'the diff editor');
    assert.equal(vscode.state.commands[0]?.command, 'vscode.diff');

    page.click(asking, 'Approve');
    await until(turnDone, 'the turn to complete');
    assert.equal(await fs.readFile(path.join(workspace, 'hello.py'), 'utf8'), 'print("hello")\n');
    assert.equal(asking.querySelector('.approval'), null, 'the question is gone');
    assert.match(asking.querySelector('.outcome')?.textContent ?? '', /success/);
    assert.equal(vscode.state.tabs.length, 0, 'the diff editor is closed');
    assert.deepEqual(
      page.sent.filter((m) => m.type === 'approval'),
      [{ type: 'approval', callId: asking.id.replace(/^call-/, ''), decision: 'approve' }],
      'one answer, from the card of that call',
    );
  });

  it('sends the feedback typed in the card with Reject', async () => {
    page.type('create notes.md with my notes', 'code');
    await until(() => card('notes.md')?.querySelector('.approval') != null, 'the question in the card');
    const asking = card('notes.md') as HTMLElement;
    (asking.querySelector('.approval .feedback') as HTMLTextAreaElement).value = 'use a checklist';
    page.click(asking, 'Reject');
    await until(turnDone, 'the turn to complete');
    assert.match(controller.state.last?.message ?? '', /The user rejected this tool call\. Feedback: use a checklist/);
    await assert.rejects(fs.stat(path.join(workspace, 'notes.md')), 'the rejected file was written');
    assert.match(asking.querySelector('.outcome')?.textContent ?? '', /rejected: use a checklist/);
  });

  it('Cancel takes the question away and leaves the call unanswered', async () => {
    page.type('create late.md with my notes', 'code');
    await until(() => card('late.md')?.querySelector('.approval') != null, 'the question in the card');
    const asking = card('late.md') as HTMLElement;
    (page.document.getElementById('cancel') as HTMLButtonElement).click();
    await until(() => !controller.state.busy, 'the turn to end');
    assert.equal(asking.querySelector('.approval'), null, 'the question is gone');
    await assert.rejects(fs.stat(path.join(workspace, 'late.md')));
  });

  it("renders the agents' Markdown, sanitised, in the page", async () => {
    await fs.writeFile(path.join(workspace, 'main.py'), 'x = 1\n');
    page.type('explain what main.py does', 'explain');
    await until(turnDone, 'the answer');
    const bubble = [...page.document.querySelectorAll('.message.assistant .body')].at(-1) as HTMLElement;
    assert.ok(bubble.classList.contains('markdown'), 'the answer is rendered as Markdown');
    assert.match(bubble.innerHTML, /^<p>main\.py has 1 lines\. It begins with: x = 1<\/p>/);
    const shown = page.document.getElementById('log')?.textContent ?? '';
    assert.equal(shown.split('It begins with').length - 1, 1, 'the answer is shown once');

    // A model's text with Markdown and markup in it, streamed as the sidecar streams it.
    const stream = (delta: string): void =>
      page.deliver({ type: 'event', event: { kind: 'stream', agent: 'code', delta } });
    page.deliver({ type: 'event', event: { kind: 'notice', message: '—' } });
    const deltas = [
      '## Done\n\n',
      'Wrote **app.py**:\n\n```py\nprint(1)\n',
      '```\n\n',
      '<img src=x onerror="window.pwned=1">',
      '<script>window.pwned=2</script>',
    ];
    for (const delta of deltas) stream(delta);
    const last = [...page.document.querySelectorAll('.message.assistant .body')].at(-1) as HTMLElement;
    assert.equal(last.querySelector('h2')?.textContent, 'Done');
    assert.equal(last.querySelector('strong')?.textContent, 'app.py');
    assert.equal(last.querySelector('pre code')?.textContent, 'print(1)\n');
    assert.equal(last.querySelector('img, script'), null, 'no markup from the model');
    assert.match(last.textContent ?? '', /<img src=x onerror="window.pwned=1">/);
    assert.equal((page.window as unknown as { pwned?: number }).pwned, undefined);
  });

  it('puts the context sent from the editor into the composer, for the user to finish', () => {
    const text = page.document.getElementById('text') as HTMLTextAreaElement;
    text.value = 'Why does this fail?';
    page.deliver({ type: 'context', text: 'Context: `a.py` line 3\n\n```python\nx = 1\n```\n' });
    assert.equal(text.value, 'Why does this fail?\n\nContext: `a.py` line 3\n\n```python\nx = 1\n```\n');
    assert.equal(page.document.activeElement, text, 'the composer has the focus');
  });
});

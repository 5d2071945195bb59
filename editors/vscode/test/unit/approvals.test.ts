import '../stubs/register';
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type { ToolCall } from '../../src/core/controller';
import {
  APPROVE,
  APPROVE_ALWAYS,
  PROPOSAL_SCHEME,
  ProposalDocuments,
  REJECT,
  VsCodeApprovals,
} from '../../src/editor/approvals';
import * as vscode from '../stubs/vscode';

const write: ToolCall = {
  callId: 'c1',
  turnId: 't1',
  name: 'write_file',
  arguments: { path: 'app.py', content: 'print(1)\n' },
  requiresApproval: true,
  reason: 'write tools ask by default',
};
const command: ToolCall = {
  callId: 'c2',
  turnId: 't1',
  name: 'execute_command',
  arguments: { command: 'pytest -x' },
  requiresApproval: true,
};

let documents: ProposalDocuments;
let approvals: VsCodeApprovals;

beforeEach(() => {
  vscode.reset();
  documents = new ProposalDocuments();
  approvals = new VsCodeApprovals(documents);
});

describe('approving a tool call', () => {
  it('shows the proposed new file in a diff editor while asking, and closes it after', async () => {
    vscode.state.answers.push(APPROVE);
    const asking = approvals.approveToolCall(write, {
      path: '/ws/app.py',
      label: 'app.py',
      before: undefined,
      after: 'print(1)\n',
    });
    const diff = vscode.state.commands.find((c) => c.command === 'vscode.diff');
    assert.ok(diff, 'vscode.diff was not run');
    const [left, right, title] = diff.args as [vscode.Uri, vscode.Uri, string];
    const during = {
      left: left.scheme,
      right: right.scheme,
      content: documents.provideTextDocumentContent(right as never),
    };
    assert.deepEqual(await asking, { approve: true, remember: false });
    assert.deepEqual(during, { left: PROPOSAL_SCHEME, right: PROPOSAL_SCHEME, content: 'print(1)\n' });
    assert.equal(title, 'app.py (new file)');
    assert.equal(right.path, '/app.py', 'named after the file, so the editor picks its language');
    assert.equal(vscode.state.tabs.length, 0, 'the diff is closed once decided');
    assert.equal(documents.provideTextDocumentContent(right as never), '', 'the proposal is dropped');
    const dialog = vscode.state.dialogs[0];
    assert.equal(dialog?.kind, 'pick');
    assert.equal(dialog.message, 'Allow write_file: app.py?');
    assert.deepEqual(dialog.items, [APPROVE, APPROVE_ALWAYS, REJECT]);
  });

  it('diffs a change against the file itself', async () => {
    vscode.state.answers.push(APPROVE_ALWAYS);
    const decision = await approvals.approveToolCall(write, {
      path: '/ws/app.py',
      label: 'app.py',
      before: 'print(0)\n',
      after: 'print(1)\n',
    });
    assert.deepEqual(decision, { approve: true, remember: true });
    const [left] = vscode.state.commands[0]?.args as [vscode.Uri];
    assert.equal(left.scheme, 'file');
    assert.equal(left.fsPath, '/ws/app.py');
  });

  it('rejects with the feedback typed in, or without', async () => {
    vscode.state.answers.push(REJECT, '  use the logging module  ');
    assert.deepEqual(await approvals.approveToolCall(command, undefined), {
      approve: false,
      feedback: 'use the logging module',
    });
    assert.equal(vscode.state.commands.length, 0, 'no diff for a command');
    vscode.state.answers.push(REJECT, undefined);
    assert.deepEqual(await approvals.approveToolCall(command, undefined), { approve: false });
  });

  it('leaves the call unanswered when the question is dismissed (Escape)', async () => {
    vscode.state.answers.push(undefined);
    assert.equal(await approvals.approveToolCall(command, undefined), undefined);
    assert.equal(vscode.state.dialogs[0]?.message, 'Allow execute_command: pytest -x?');
  });

  it('closes the question and the diff when the turn is cancelled', async () => {
    vscode.state.answers.push(vscode.WAIT);
    const abort = new AbortController();
    const asking = approvals.approveToolCall(
      write,
      { path: '/ws/app.py', label: 'app.py', before: undefined, after: 'x' },
      abort.signal,
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(vscode.state.tabs.length, 1);
    abort.abort();
    assert.equal(await asking, undefined);
    assert.equal(vscode.state.tabs.length, 0);
  });
});

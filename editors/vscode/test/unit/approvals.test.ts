import '../stubs/register';
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type { ChatEvent, ToolCall } from '../../src/core/controller';
import { ChatApprovals, PROPOSAL_SCHEME, ProposalDocuments, question } from '../../src/editor/approvals';
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
const newFile = { path: '/ws/app.py', label: 'app.py', before: undefined, after: 'print(1)\n' };

let documents: ProposalDocuments;
let approvals: ChatApprovals;
let posted: ChatEvent[];

beforeEach(() => {
  vscode.reset();
  documents = new ProposalDocuments();
  posted = [];
  approvals = new ChatApprovals(documents, (event) => posted.push(event));
});

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

describe('approving a tool call in the chat', () => {
  it('asks in the chat, naming the action, and opens no dialog', async () => {
    const asking = approvals.approveToolCall(write, newFile);
    assert.deepEqual(posted, [
      {
        kind: 'approval',
        call: write,
        question: 'Write app.py?',
        always: 'Approve, and run write_file without asking in this session',
        diff: true,
      },
    ]);
    assert.deepEqual(vscode.state.dialogs, [], 'no quick pick, no input box');
    assert.deepEqual(vscode.state.commands, [], 'the diff waits for a click');
    assert.equal(approvals.answer('c1', 'approve'), true);
    assert.deepEqual(await asking, { approve: true, remember: false });
    assert.deepEqual(posted.at(-1), { kind: 'approvalClosed', callId: 'c1' });
    assert.equal(approvals.answer('c1', 'approve'), false, 'answered once');
  });

  it('answers Always and Reject (with or without feedback) from the chat view', async () => {
    const always = approvals.approveToolCall(command, undefined);
    assert.equal(approvals.receive({ type: 'approval', callId: 'c2', decision: 'always' }), true);
    assert.deepEqual(await always, { approve: true, remember: true });

    const rejected = approvals.approveToolCall(command, undefined);
    approvals.receive({ type: 'approval', callId: 'c2', decision: 'reject', feedback: '  use the logging module ' });
    assert.deepEqual(await rejected, { approve: false, feedback: 'use the logging module' });

    const bare = approvals.approveToolCall(command, undefined);
    approvals.receive({ type: 'approval', callId: 'c2', decision: 'reject' });
    assert.deepEqual(await bare, { approve: false });
    assert.equal(approvals.receive({ type: 'cancel' }), false, 'other messages are not its business');
  });

  it('opens the proposed new file in a diff editor on request, and closes it once answered', async () => {
    const asking = approvals.approveToolCall(write, newFile);
    approvals.receive({ type: 'diff', callId: 'c1' });
    await tick();
    const diff = vscode.state.commands.find((c) => c.command === 'vscode.diff');
    assert.ok(diff, 'vscode.diff was not run');
    const [left, right, title] = diff.args as [vscode.Uri, vscode.Uri, string];
    assert.equal(left.scheme, PROPOSAL_SCHEME);
    assert.equal(right.scheme, PROPOSAL_SCHEME);
    assert.equal(documents.provideTextDocumentContent(right as never), 'print(1)\n');
    assert.equal(title, 'app.py (new file)');
    assert.equal(right.path, '/app.py', 'named after the file, so the editor picks its language');
    assert.equal(vscode.state.tabs.length, 1);

    approvals.answer('c1', 'approve');
    await asking;
    await tick();
    assert.equal(vscode.state.tabs.length, 0, 'the diff is closed once decided');
    assert.equal(documents.provideTextDocumentContent(right as never), '', 'the proposal is dropped');
  });

  it('diffs a change against the file itself', async () => {
    const asking = approvals.approveToolCall(write, { ...newFile, before: 'print(0)\n' });
    assert.equal(await approvals.showDiff('c1'), true);
    const [left] = vscode.state.commands[0]?.args as [vscode.Uri];
    assert.equal(left.scheme, 'file');
    assert.equal(left.fsPath, '/ws/app.py');
    approvals.answer('c1', 'reject');
    await asking;
    assert.equal(await approvals.showDiff('c2'), false, 'no question with that id');
  });

  it('takes the question away, unanswered, when the turn is cancelled', async () => {
    const abort = new AbortController();
    const asking = approvals.approveToolCall(write, newFile, abort.signal);
    await approvals.showDiff('c1');
    assert.equal(approvals.pending().length, 1, 'a new chat view would be shown it again');
    abort.abort();
    assert.equal(await asking, undefined);
    await tick();
    assert.deepEqual(posted.at(-1), { kind: 'approvalClosed', callId: 'c1' });
    assert.equal(vscode.state.tabs.length, 0);
    assert.equal(approvals.answer('c1', 'approve'), false, 'a late click changes nothing');
    assert.deepEqual(approvals.pending(), []);
  });

  it('names each action in its question', () => {
    const ask = (name: string, args: Record<string, unknown>): string =>
      question({ ...write, name, arguments: args });
    assert.equal(ask('execute_command', { command: 'npm test', cwd: 'web' }), 'Run `npm test` in web?');
    assert.equal(ask('edit_file', { path: 'a.py', old_text: 'x', new_text: 'y' }), 'Edit a.py?');
    assert.equal(ask('create_directory', { path: 'src' }), 'Create the folder src?');
    assert.equal(ask('read_file', { path: '../secret' }), 'Read ../secret?');
  });
});

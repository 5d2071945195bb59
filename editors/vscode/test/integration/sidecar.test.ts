/**
 * The controller and the VS Code tool host (over the vscode stub, on a real temp
 * directory) driving the real sidecar with its offline `demo` model.
 */
import '../stubs/register';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  type ChatEvent,
  SessionController,
  type ToolCall,
  type ToolDecision,
  type Ui,
} from '../../src/core/controller';
import { ToolExecutor } from '../../src/core/tools';
import type { Connection } from '../../src/core/wire';
import { VsCodeToolHost } from '../../src/editor/host';
import type { Plan } from '../../src/protocol';
import * as vscode from '../stubs/vscode';
import { findServer, type Sidecar, startSidecar } from '../support/sidecar';

const REJECTED_FILE = 'test_currency_rates.py';
const FEEDBACK = 'Skip the tests for now, the project has no test runner yet';

/** Approves every call, except writes of the files it was told to reject. */
class Reviewer implements Ui {
  readonly asked: ToolCall[] = [];
  constructor(private readonly reject: ReadonlyMap<string, string> = new Map()) {}

  async approveToolCall(call: ToolCall): Promise<ToolDecision> {
    this.asked.push(call);
    const feedback = this.reject.get(String(call.arguments['path']));
    return feedback === undefined ? { approve: true, remember: false } : { approve: false, feedback };
  }
}

const server = findServer();
let scratch: string;
let workspace: string;
let sidecar: Sidecar;
let connection: Connection;

describe('against the real sidecar', { skip: server === undefined ? 'codelab-agent not found' : false }, () => {
  before(async () => {
    scratch = await fs.realpath(await fs.mkdtemp(path.join(tmpdir(), 'codelab-it-')));
    workspace = path.join(scratch, 'workspace');
    await fs.mkdir(workspace);
    sidecar = await startSidecar(server as string, workspace, path.join(scratch, 'agent.db'));
    connection = sidecar.connection;
  });

  after(async () => {
    await sidecar?.stop();
    await fs.rm(scratch, { recursive: true, force: true });
  });

  beforeEach(() => vscode.reset());

  function controllerFor(ui: Ui): { controller: SessionController; events: ChatEvent[] } {
    const tools = new ToolExecutor(new VsCodeToolHost(workspace));
    const controller = new SessionController(connection, tools, ui);
    const events: ChatEvent[] = [];
    controller.onEvent((e) => events.push(e));
    return { controller, events };
  }

  const errorsOf = (events: ChatEvent[]): string[] => events.flatMap((e) => (e.kind === 'error' ? [e.message] : []));

  it('announces itself as a language server with the agent capability', () => {
    assert.equal(sidecar.initializeResult.serverInfo?.name, 'codelab-agent');
    const agent = sidecar.initializeResult.capabilities.experimental?.['agent'] as { protocolVersion: number };
    assert.equal(agent.protocolVersion, 1);
  });

  it('runs a plan to completion, with approvals and one rejection', async () => {
    const reviewer = new Reviewer(new Map([[REJECTED_FILE, FEEDBACK]]));
    const { controller, events } = controllerFor(reviewer);

    const planned = await controller.send('implement a currency rates app', 'auto');
    assert.deepEqual(errorsOf(events), []);
    assert.equal(planned?.status, 'awaiting_plan_approval', JSON.stringify(planned));
    assert.equal(planned.agent, 'architect');
    assert.equal(reviewer.asked.length, 0, 'list_files is a read: auto-approved');
    const proposed = controller.state.plan;
    assert.equal(proposed?.status, 'awaiting_approval');
    assert.deepEqual(
      proposed.subtasks.map((s) => s.title),
      ['Write the currency_rates module', 'Write its tests', 'Document how to run it'],
    );

    const finished = await controller.decidePlan('approve');
    assert.deepEqual(errorsOf(events), []);
    assert.equal(finished?.status, 'completed', JSON.stringify(finished));

    // Every write asked; the rejected one was not executed.
    assert.deepEqual(
      reviewer.asked.map((c) => `${c.name} ${String(c.arguments['path'])}`),
      ['write_file currency_rates.py', `write_file ${REJECTED_FILE}`, 'write_file README.md'],
    );
    assert.ok(reviewer.asked.every((c) => c.planId === proposed.id && c.subtaskId));
    assert.match(await fs.readFile(path.join(workspace, 'currency_rates.py'), 'utf8'), /def main\(\) -> None:/);
    assert.match(await fs.readFile(path.join(workspace, 'README.md'), 'utf8'), /^# Document how to run it/);
    await assert.rejects(fs.stat(path.join(workspace, REJECTED_FILE)), 'the rejected file was written');
    assert.equal(vscode.state.appliedEdits.length, 0, 'no editor had the files open: written on disk by a rename');

    // The model got the rejection with the feedback, and carried on.
    const rejection = `The user rejected this tool call. Feedback: ${FEEDBACK}`;
    const plan = controller.state.plan as Plan;
    assert.equal(plan.status, 'completed');
    assert.deepEqual(
      plan.subtasks.map((s) => s.status),
      ['done', 'done', 'done'],
    );
    assert.ok(plan.subtasks[1]?.result?.includes(rejection), plan.subtasks[1]?.result ?? '');
    assert.ok(finished.message?.includes(rejection), finished.message ?? '');
    const answered = events.flatMap((e) => (e.kind === 'toolAnswered' ? [e.status] : []));
    assert.deepEqual(answered, ['success', 'success', 'rejected', 'success']);

    // The plan's progress reached the editor: snapshots, and $/progress.
    const snapshots = events.flatMap((e) => (e.kind === 'plan' ? [e.plan.status] : []));
    assert.equal(snapshots[0], 'awaiting_approval');
    assert.equal(snapshots.at(-1), 'completed');
    assert.ok(sidecar.progress.length > 0, 'no $/progress while the plan ran');

    // What the sidecar stored agrees.
    const stored = await connection.sendRequest('agent/getSession', { sessionId: planned.sessionId });
    assert.equal(stored.session.state, 'idle');
    const userDecisions = (stored.approvals ?? []).filter((a) => a.decidedBy === 'user').map((a) => a.decision);
    assert.deepEqual(userDecisions, ['approved', 'rejected', 'approved']);
    const listed = await connection.sendRequest('agent/listSessions', { limit: 10 });
    assert.ok(listed.sessions.some((s) => s.id === planned.sessionId));
    controller.dispose();
  });

  it('runs an atomic task through the same path', async () => {
    const reviewer = new Reviewer();
    const { controller, events } = controllerFor(reviewer);
    const result = await controller.send('create hello.py that prints hello', 'code');
    assert.deepEqual(errorsOf(events), []);
    assert.equal(result?.status, 'completed', JSON.stringify(result));
    assert.equal(result.agent, 'code');
    assert.deepEqual(
      reviewer.asked.map((c) => c.name),
      ['write_file'],
    );
    assert.equal(await fs.readFile(path.join(workspace, 'hello.py'), 'utf8'), 'print("hello")\n');
    const streamed = events.flatMap((e) => (e.kind === 'stream' ? [e.delta] : [])).join('');
    assert.match(streamed, /I'll write hello\.py\./);
    controller.dispose();
  });

  it('leaves a dismissed approval pending; resume sends the call again and it is answered', async () => {
    let dismiss = true;
    const asked: string[] = [];
    const { controller, events } = controllerFor({
      async approveToolCall(call) {
        asked.push(call.callId);
        if (dismiss) return undefined;
        return { approve: true, remember: false };
      },
    });
    const stopped = await controller.send('create notes.md with my notes', 'code');
    assert.equal(stopped?.status, 'awaiting_tool_results');
    await assert.rejects(fs.stat(path.join(workspace, 'notes.md')));

    dismiss = false;
    const resumed = await controller.resume();
    assert.deepEqual(errorsOf(events), []);
    assert.equal(resumed?.status, 'completed', JSON.stringify(resumed));
    assert.equal(asked.length, 2);
    assert.equal(asked[0], asked[1], 'the call came again with the same callId');
    assert.match(await fs.readFile(path.join(workspace, 'notes.md'), 'utf8'), /^# /);
    controller.dispose();
  });

  it("answers the agent's question with the next message", async () => {
    const { controller, events } = controllerFor(new Reviewer());
    const asked = await controller.send('create a file', 'code');
    assert.equal(asked?.status, 'awaiting_user_input', JSON.stringify(asked));
    assert.match(asked.message ?? '', /^What should the file be called\?/);
    const done = await controller.send('answer.py');
    assert.deepEqual(errorsOf(events), []);
    assert.equal(done?.status, 'completed', JSON.stringify(done));
    assert.equal(done.sessionId, asked.sessionId);
    await fs.stat(path.join(workspace, 'answer.py'));
    controller.dispose();
  });

  it('cancels a turn while the user is being asked; the session takes a new task after', async () => {
    let asking = false;
    const { controller, events } = controllerFor({
      // Asks until the turn is cancelled.
      approveToolCall: (_call, _proposal, signal) =>
        new Promise((resolve) => {
          asking = true;
          signal?.addEventListener('abort', () => resolve(undefined));
        }),
    });
    const running = controller.send('create cancelled.py that prints no', 'code');
    while (!asking) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(await controller.cancel(), true);
    assert.equal((await running)?.status, 'awaiting_tool_results');
    const stored = await connection.sendRequest('agent/getSession', {
      sessionId: controller.state.sessionId as string,
    });
    assert.equal(stored.session.state, 'idle');
    assert.deepEqual(stored.pendingToolCalls, []);
    await assert.rejects(fs.stat(path.join(workspace, 'cancelled.py')));
    assert.ok(events.some((e) => e.kind === 'notice' && e.message === 'The turn was cancelled.'));

    const next = await controller.send('explain what a list is', 'explain');
    assert.equal(next?.status, 'completed', JSON.stringify(next));
    controller.dispose();
  });
});

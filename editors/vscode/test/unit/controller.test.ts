import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { type ChatEvent, SessionController } from '../../src/core/controller';
import { ERROR_CODES, type Plan } from '../../src/protocol';
import { FakeSidecar, RecordingTools, ScriptedUser, recordEvents, turn, WAIT } from '../support/fakes';

let sidecar: FakeSidecar;
let tools: RecordingTools;
let user: ScriptedUser;
let controller: SessionController;
let events: ChatEvent[];

const kinds = (): string[] => events.map((e) => e.kind);
const errors = (): string[] => events.flatMap((e) => (e.kind === 'error' ? [e.message] : []));

function plan(status: Plan['status'], extra: Partial<Plan> = {}): Plan {
  return {
    id: 'p1',
    sessionId: 's1',
    version: 1,
    goal: 'an app',
    status,
    subtasks: [{ id: 's1', title: 'Write it', description: '', agent: 'code', status: 'pending', dependencies: [] }],
    ...extra,
  };
}

const NO_USAGE = { requests: 0, promptTokens: 0, cachedTokens: 0, completionTokens: 0, durationMs: 0, nudges: 0 };

function rpcError(name: keyof typeof ERROR_CODES, message: string): Error & { code: number } {
  return Object.assign(new Error(message), { code: ERROR_CODES[name] });
}

beforeEach(() => {
  sidecar = new FakeSidecar();
  tools = new RecordingTools();
  user = new ScriptedUser();
  controller = new SessionController(sidecar, tools, user);
  events = recordEvents(controller);
});

describe('a turn with tool calls', () => {
  it('asks for approval, executes, answers, and follows the next TurnResult', async () => {
    sidecar
      .expect('agent/sendMessage', () => {
        sidecar.notify('agent/stream', { sessionId: 's1', turnId: 't1', agent: 'code', delta: "I'll write it." });
        sidecar.call({
          callId: 'c1',
          name: 'write_file',
          arguments: { path: 'a.py', content: 'x\n' },
          requiresApproval: true,
        });
        return turn({ status: 'awaiting_tool_results', pendingToolCalls: ['c1'] });
      })
      .expect('agent/toolResult', () => turn({ status: 'completed', message: 'Wrote a.py.' }));
    user.decisions.push({ approve: true, remember: false });

    const result = await controller.send('create a.py', 'code');

    assert.equal(result?.status, 'completed');
    assert.deepEqual(sidecar.of('agent/sendMessage'), [{ text: 'create a.py', mode: 'code' }]);
    assert.deepEqual(sidecar.of('agent/toolResult'), [
      { sessionId: 's1', callId: 'c1', status: 'success', content: 'ran write_file' },
    ]);
    assert.equal(user.asked.length, 1);
    assert.deepEqual(user.asked[0]?.proposal, { path: '/ws/a.py', label: 'a.py', before: undefined, after: 'x\n' });
    assert.deepEqual(tools.executed, [{ name: 'write_file', args: { path: 'a.py', content: 'x\n' } }]);
    assert.deepEqual(kinds(), [
      'busy',
      'user',
      'session',
      'stream',
      'toolCall',
      'turn',
      'toolAnswered',
      'turn',
      'busy',
    ]);
    assert.equal(controller.state.sessionId, 's1');
    sidecar.done();
  });

  it('only asks about a call the sidecar runs (an MCP tool), and never executes it', async () => {
    sidecar
      .expect('agent/sendMessage', () => {
        sidecar.call({
          callId: 'm1',
          name: 'mcp__fs__write_file',
          arguments: { path: '/tmp/x', content: 'x' },
          requiresApproval: true,
          executedBy: 'server',
          server: 'fs',
        });
        return turn({ status: 'awaiting_tool_results', pendingToolCalls: ['m1'] });
      })
      .expect('agent/toolResult', () => turn({ status: 'completed', message: 'Written.' }));
    user.decisions.push({ approve: true, remember: true });

    const result = await controller.send('write it', 'code');

    assert.equal(result?.status, 'completed');
    assert.deepEqual(sidecar.of('agent/toolResult'), [
      { sessionId: 's1', callId: 'm1', status: 'success', remember: true },
    ]);
    assert.equal(user.asked.length, 1);
    assert.deepEqual(tools.executed, []);
    sidecar.done();
  });

  it('runs calls that need no approval without asking', async () => {
    sidecar
      .expect('agent/sendMessage', () => {
        sidecar.call({ callId: 'c1', name: 'list_files', arguments: { path: '.' } });
        return turn({ status: 'awaiting_tool_results', pendingToolCalls: ['c1'] });
      })
      .expect('agent/toolResult', () => turn());
    await controller.send('look around');
    assert.equal(user.asked.length, 0);
    assert.equal(sidecar.of('agent/toolResult')[0]?.status, 'success');
  });

  it('sends a rejection with the feedback, without executing', async () => {
    sidecar
      .expect('agent/sendMessage', () => {
        sidecar.call({
          callId: 'c1',
          name: 'execute_command',
          arguments: { command: 'rm -rf /' },
          requiresApproval: true,
        });
        return turn({ status: 'awaiting_tool_results', pendingToolCalls: ['c1'] });
      })
      .expect('agent/toolResult', () => turn());
    user.decisions.push({ approve: false, feedback: 'never that' });
    await controller.send('clean up');
    assert.deepEqual(sidecar.of('agent/toolResult'), [
      { sessionId: 's1', callId: 'c1', status: 'rejected', feedback: 'never that' },
    ]);
    assert.equal(tools.executed.length, 0);
    const answered = events.find((e) => e.kind === 'toolAnswered');
    assert.deepEqual(answered, {
      kind: 'toolAnswered',
      callId: 'c1',
      status: 'rejected',
      summary: 'rejected: never that',
    });
  });

  it('answers "Approve always" with remember', async () => {
    sidecar
      .expect('agent/sendMessage', () => {
        sidecar.call({
          callId: 'c1',
          name: 'execute_command',
          arguments: { command: 'pytest' },
          requiresApproval: true,
        });
        return turn({ status: 'awaiting_tool_results', pendingToolCalls: ['c1'] });
      })
      .expect('agent/toolResult', () => turn());
    user.decisions.push({ approve: true, remember: true });
    await controller.send('test it');
    assert.equal(sidecar.of('agent/toolResult')[0]?.remember, true);
  });

  it('sends a failed execution as an error result', async () => {
    tools.outcome = () => ({ status: 'error', content: 'x is outside the workspace /ws' });
    sidecar
      .expect('agent/sendMessage', () => {
        sidecar.call({ callId: 'c1', name: 'read_file', arguments: { path: '../x' } });
        return turn({ status: 'awaiting_tool_results', pendingToolCalls: ['c1'] });
      })
      .expect('agent/toolResult', () => turn());
    await controller.send('read x');
    assert.deepEqual(sidecar.of('agent/toolResult')[0], {
      sessionId: 's1',
      callId: 'c1',
      status: 'error',
      content: 'x is outside the workspace /ws',
    });
  });

  it('answers every call of a batch in order; the last answer brings the next stop', async () => {
    sidecar
      .expect('agent/sendMessage', () => {
        sidecar.call({ callId: 'c1', name: 'read_file', arguments: { path: 'a' } });
        sidecar.call({ callId: 'c2', name: 'read_file', arguments: { path: 'b' } });
        return turn({ status: 'awaiting_tool_results', pendingToolCalls: ['c1', 'c2'] });
      })
      .expect('agent/toolResult', () => turn({ status: 'awaiting_tool_results', pendingToolCalls: ['c2'] }))
      .expect('agent/toolResult', () => {
        sidecar.call({
          callId: 'c3',
          name: 'write_file',
          arguments: { path: 'c', content: '' },
          requiresApproval: true,
        });
        return turn({ status: 'awaiting_tool_results', pendingToolCalls: ['c3'] });
      })
      .expect('agent/toolResult', () => turn({ message: 'done' }));
    user.decisions.push({ approve: true, remember: false });
    const result = await controller.send('read both');
    assert.equal(result?.message, 'done');
    assert.deepEqual(
      sidecar.of('agent/toolResult').map((p) => p.callId),
      ['c1', 'c2', 'c3'],
    );
    sidecar.done();
  });

  it('fetches a call it was not told about from agent/getSession', async () => {
    sidecar
      .expect('agent/sendMessage', () => turn({ status: 'awaiting_tool_results', pendingToolCalls: ['c9'] }))
      .expect('agent/getSession', () => ({
        session: {
          id: 's1',
          title: 't',
          state: 'awaiting_tool_results',
          currentAgent: 'code',
          switchCount: 0,
          createdAt: '',
          updatedAt: '',
          interrupted: false,
        },
        messages: [],
        pendingToolCalls: [
          { callId: 'c9', turnId: 't1', name: 'list_files', arguments: {}, requiresApproval: false, status: 'pending' },
        ],
        usage: { total: NO_USAGE, byAgent: {} },
        planVersions: [],
        approvals: [],
      }))
      .expect('agent/toolResult', () => turn());
    await controller.send('go');
    assert.equal(tools.executed[0]?.name, 'list_files');
    sidecar.done();
  });
});

describe('stopping and resuming', () => {
  it('leaves a dismissed call unanswered; resume asks again for the call sent again', async () => {
    const announce = (): void => {
      sidecar.call({ callId: 'c1', name: 'write_file', arguments: { path: 'a', content: '' }, requiresApproval: true });
    };
    sidecar.expect('agent/sendMessage', () => {
      announce();
      return turn({ status: 'awaiting_tool_results', pendingToolCalls: ['c1'] });
    });
    user.decisions.push(undefined);
    const stopped = await controller.send('write a');
    assert.equal(stopped?.status, 'awaiting_tool_results');
    assert.equal(sidecar.of('agent/toolResult').length, 0);
    assert.ok(events.some((e) => e.kind === 'notice' && /write_file is waiting for your decision/.test(e.message)));

    sidecar
      .expect('agent/resume', () => {
        announce(); // the same callId, sent again
        return turn({ status: 'awaiting_tool_results', pendingToolCalls: ['c1'] });
      })
      .expect('agent/toolResult', () => turn());
    user.decisions.push({ approve: true, remember: false });
    const resumed = await controller.resume();
    assert.equal(resumed?.status, 'completed');
    assert.deepEqual(sidecar.of('agent/resume'), [{ sessionId: 's1' }]);
    assert.equal(user.asked.length, 2);
    sidecar.done();
  });

  it('stops at an answer the sidecar already has, and says to resume', async () => {
    sidecar
      .expect('agent/sendMessage', () => {
        sidecar.call({ callId: 'c1', name: 'read_file', arguments: { path: 'a' } });
        return turn({ status: 'awaiting_tool_results', pendingToolCalls: ['c1'] });
      })
      .expect('agent/toolResult', () => {
        throw rpcError('TOOL_CALL_ALREADY_ANSWERED', "tool call 'c1' was already answered (success); nothing changed");
      });
    const result = await controller.send('read');
    assert.equal(result?.status, 'awaiting_tool_results');
    assert.match(errors()[0] ?? '', /already answered.*use Resume/);
  });

  it('cancels a running request: agent/cancel goes out while it runs', async () => {
    let release!: () => void;
    tools.gate = new Promise((resolve) => (release = resolve));
    sidecar
      .expect('agent/sendMessage', () => {
        sidecar.call({ callId: 'c1', name: 'execute_command', arguments: { command: 'sleep 100' } });
        return turn({ status: 'awaiting_tool_results', pendingToolCalls: ['c1'] });
      })
      .expect('agent/cancel', () => {
        release();
        return { cancelled: true };
      });
    const running = controller.send('run it');
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(controller.state.busy, true);
    assert.equal(await controller.cancel(), true);
    const result = await running;
    assert.equal(result?.status, 'awaiting_tool_results');
    assert.equal(sidecar.of('agent/toolResult').length, 0, 'the cancelled call is not answered');
    sidecar.done();
  });

  it('cancels a resting turn, and says so', async () => {
    sidecar.expect('agent/sendMessage', () => turn({ status: 'awaiting_user_input', message: 'Which file?' }));
    await controller.send('create a file');
    sidecar.expect('agent/cancel', () => ({ cancelled: true }));
    assert.equal(await controller.cancel(), true);
    assert.equal(controller.state.last, undefined);
    assert.deepEqual(events.at(-1), { kind: 'notice', message: 'The turn was cancelled.' });
  });

  it('cancels while the user is being asked: the question closes, nothing is answered', async () => {
    sidecar.expect('agent/sendMessage', () => {
      sidecar.call({ callId: 'c1', name: 'write_file', arguments: { path: 'a', content: '' }, requiresApproval: true });
      return turn({ status: 'awaiting_tool_results', pendingToolCalls: ['c1'] });
    });
    user.decisions.push(WAIT);
    const running = controller.send('write a');
    await new Promise((resolve) => setTimeout(resolve, 10));
    sidecar.expect('agent/cancel', () => ({ cancelled: true }));
    assert.equal(await controller.cancel(), true);
    assert.equal((await running)?.status, 'awaiting_tool_results');
    assert.equal(sidecar.of('agent/toolResult').length, 0);
    assert.deepEqual(
      events.filter((e) => e.kind === 'notice'),
      [{ kind: 'notice', message: 'The turn was cancelled.' }],
    );
    sidecar.done();
  });

  it('refuses a second piece of work while one runs', async () => {
    let release!: () => void;
    sidecar.expect('agent/sendMessage', () => new Promise((resolve) => (release = () => resolve(turn()))));
    const first = controller.send('one');
    assert.equal(await controller.send('two'), undefined);
    assert.deepEqual(errors(), ['a request is already running in this chat']);
    release();
    assert.equal((await first)?.status, 'completed');
  });

  it('reports a failed request as an error event', async () => {
    sidecar.expect('agent/sendMessage', () => {
      throw rpcError('SESSION_BUSY', 'a turn is already running in session s1');
    });
    assert.equal(await controller.send('x'), undefined);
    assert.deepEqual(errors(), ['a turn is already running in session s1']);
    assert.equal(controller.state.busy, false);
  });
});

describe('plans and questions', () => {
  it('approves, revises and rejects the plan that awaits approval', async () => {
    sidecar.expect('agent/sendMessage', () => {
      sidecar.notify('agent/planUpdate', { sessionId: 's1', plan: plan('awaiting_approval') });
      return turn({ status: 'awaiting_plan_approval', agent: 'architect', planId: 'p1' });
    });
    await controller.send('build an app');
    assert.equal(controller.state.plan?.status, 'awaiting_approval');

    sidecar.expect('agent/approvePlan', () => {
      sidecar.notify('agent/planUpdate', {
        sessionId: 's1',
        plan: plan('awaiting_approval', { id: 'p2', version: 2 }),
      });
      return turn({ status: 'awaiting_plan_approval', agent: 'architect', planId: 'p2' });
    });
    await controller.decidePlan('revise', 'add docs');
    sidecar.expect('agent/approvePlan', () => {
      sidecar.notify('agent/planUpdate', { sessionId: 's1', plan: plan('completed', { id: 'p2', version: 2 }) });
      return turn({ status: 'completed', message: 'Plan completed' });
    });
    await controller.decidePlan('approve');
    assert.deepEqual(sidecar.of('agent/approvePlan'), [
      { sessionId: 's1', planId: 'p1', decision: 'revise', feedback: 'add docs' },
      { sessionId: 's1', planId: 'p2', decision: 'approve' },
    ]);
    await controller.decidePlan('reject');
    assert.deepEqual(errors(), ['no plan awaits approval in this session']);
    sidecar.done();
  });

  it('retries and skips a failed subtask of the plan', async () => {
    sidecar.expect('agent/sendMessage', () => {
      sidecar.notify('agent/planUpdate', { sessionId: 's1', plan: plan('failed') });
      return turn({ status: 'failed', error: { code: -32015, message: 'model failed' } });
    });
    await controller.send('build');
    sidecar.expect('agent/retrySubtask', () => turn({ status: 'failed' }));
    sidecar.expect('agent/skipSubtask', () => turn());
    await controller.retrySubtask('s1');
    await controller.skipSubtask('s1');
    assert.deepEqual(sidecar.of('agent/retrySubtask'), [{ sessionId: 's1', planId: 'p1', subtaskId: 's1' }]);
    assert.deepEqual(sidecar.of('agent/skipSubtask'), [{ sessionId: 's1', planId: 'p1', subtaskId: 's1' }]);
  });

  it('answers a question with the next message in the same session', async () => {
    sidecar.expect('agent/sendMessage', () => turn({ status: 'awaiting_user_input', message: 'Which file?' }));
    await controller.send('create a file');
    sidecar.expect('agent/sendMessage', () => turn());
    await controller.send('hello.py');
    assert.deepEqual(sidecar.of('agent/sendMessage')[1], { text: 'hello.py', sessionId: 's1' });
  });
});

describe('sessions', () => {
  it("adopts a new session from its first notification and ignores other sessions'", async () => {
    sidecar.expect('agent/sendMessage', () => {
      sidecar.notify('agent/stream', { sessionId: 'new', turnId: 't', agent: 'code', delta: 'mine' });
      sidecar.notify('agent/stream', { sessionId: 'other', turnId: 't', agent: 'code', delta: 'not mine' });
      return turn({ sessionId: 'new' });
    });
    await controller.send('hi');
    const streamed = events.flatMap((e) => (e.kind === 'stream' ? [e.delta] : []));
    assert.deepEqual(streamed, ['mine']);
    assert.equal(controller.state.sessionId, 'new');
    // Later notifications of other sessions stay out too.
    sidecar.notify('agent/planUpdate', { sessionId: 'other', plan: plan('in_progress') });
    assert.equal(controller.state.plan, undefined);
  });

  it('emits a thought apart from the text, so the streamed answer is the text alone', async () => {
    sidecar.expect('agent/sendMessage', () => {
      const base = { sessionId: 's1', turnId: 't1', agent: 'code' } as const;
      sidecar.notify('agent/stream', { ...base, delta: 'The user wants a.py.', kind: 'thought' });
      sidecar.notify('agent/stream', { ...base, delta: 'Done: ' });
      sidecar.notify('agent/stream', { ...base, delta: 'a.py.', kind: 'text' });
      sidecar.notify('agent/stream', { ...base, delta: 'Check it once more.', kind: 'thought' });
      sidecar.notify('agent/stream', { ...base, delta: ' Bye.', kind: null });
      return turn({ message: 'Done: a.py. Bye.' });
    });
    await controller.send('create a.py');
    const streamed = events.flatMap((e) =>
      e.kind === 'stream' || e.kind === 'thought' ? [{ kind: e.kind, agent: e.agent, delta: e.delta }] : [],
    );
    assert.deepEqual(streamed, [
      { kind: 'thought', agent: 'code', delta: 'The user wants a.py.' },
      { kind: 'stream', agent: 'code', delta: 'Done: ' },
      { kind: 'stream', agent: 'code', delta: 'a.py.' },
      { kind: 'thought', agent: 'code', delta: 'Check it once more.' },
      { kind: 'stream', agent: 'code', delta: ' Bye.' },
    ]);
    const answer = events.flatMap((e) => (e.kind === 'stream' ? [e.delta] : [])).join('');
    assert.equal(answer, 'Done: a.py. Bye.');
  });

  it('opens a stored session with its history and pending calls, then resumes it', async () => {
    sidecar.expect('agent/getSession', () => ({
      session: {
        id: 's7',
        title: 'old work',
        state: 'awaiting_tool_results',
        currentAgent: 'code',
        switchCount: 1,
        createdAt: '',
        updatedAt: '',
        interrupted: false,
      },
      messages: [{ id: 1, role: 'user', content: 'old work', createdAt: '', kind: 'task' }],
      plan: plan('in_progress', { sessionId: 's7' }),
      pendingToolCalls: [
        {
          callId: 'c1',
          turnId: 't',
          name: 'read_file',
          arguments: { path: 'a' },
          requiresApproval: false,
          status: 'pending',
        },
      ],
      usage: { total: NO_USAGE, byAgent: {} },
      planVersions: [],
      approvals: [],
    }));
    const session = await controller.open('s7');
    assert.equal(session?.session.title, 'old work');
    assert.equal(controller.state.sessionId, 's7');
    assert.equal(controller.state.plan?.status, 'in_progress');
    assert.ok(kinds().includes('history'));

    sidecar
      .expect('agent/resume', () =>
        turn({ sessionId: 's7', status: 'awaiting_tool_results', pendingToolCalls: ['c1'] }),
      )
      .expect('agent/toolResult', () => turn({ sessionId: 's7' }));
    await controller.resume();
    assert.deepEqual(sidecar.of('agent/toolResult')[0], {
      sessionId: 's7',
      callId: 'c1',
      status: 'success',
      content: 'ran read_file',
    });
    sidecar.done();
  });

  it('starts a new session on request', async () => {
    sidecar.expect('agent/sendMessage', () => turn());
    await controller.send('one');
    controller.newSession();
    sidecar.expect('agent/sendMessage', () => turn({ sessionId: 's2' }));
    await controller.send('two');
    assert.deepEqual(sidecar.of('agent/sendMessage')[1], { text: 'two' });
    assert.equal(controller.state.sessionId, 's2');
  });

  it('needs a session to resume or cancel', async () => {
    assert.equal(await controller.resume(), undefined);
    assert.deepEqual(errors(), ['no session: send a message first']);
    assert.equal(await controller.cancel(), false);
    assert.equal(sidecar.requests.length, 0);
  });
});

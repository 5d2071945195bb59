/** Fakes at the edges of the controller: a scripted sidecar, tools that record, a scripted user. */
import assert from 'node:assert/strict';
import type { ChatEvent, ToolCall, ToolDecision, ToolRunner, Ui } from '../../src/core/controller';
import type { Proposal, ToolOutcome } from '../../src/core/tools';
import type {
  Connection,
  Disposable,
  MethodName,
  NotificationName,
  Notifications,
  Params,
  Result,
} from '../../src/core/wire';
import type { ToolCallNotification, TurnResult } from '../../src/protocol';

type Respond<M extends MethodName> = (params: Params<M>) => Result<M> | Promise<Result<M>>;

interface Step {
  method: MethodName;
  respond: (params: never) => unknown;
}

/**
 * The sidecar as a script: each expected request, in order, with its answer. An answer
 * may send notifications first (as the sidecar does before it responds).
 */
export class FakeSidecar implements Connection {
  readonly requests: Array<{ method: MethodName; params: unknown }> = [];
  private readonly steps: Step[] = [];
  private readonly handlers = new Map<string, (params: never) => void>();

  expect<M extends MethodName>(method: M, respond: Respond<M>): this {
    this.steps.push({ method, respond: respond as (params: never) => unknown });
    return this;
  }

  async sendRequest<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>> {
    this.requests.push({ method, params });
    const step = this.steps.shift();
    assert.ok(step, `unexpected request ${method} ${JSON.stringify(params)}`);
    assert.equal(method, step.method, `expected ${step.method}, got ${method} ${JSON.stringify(params)}`);
    return (await step.respond(params as never)) as Result<M>;
  }

  onNotification<N extends NotificationName>(method: N, handler: (params: Notifications[N]) => void): Disposable {
    this.handlers.set(method, handler as (params: never) => void);
    return { dispose: () => this.handlers.delete(method) };
  }

  notify<N extends NotificationName>(method: N, params: Notifications[N]): void {
    this.handlers.get(method)?.(params as never);
  }

  /** Announce a tool call, as `agent/toolCall`. */
  call(partial: Partial<ToolCallNotification> & { callId: string; name: string }): ToolCallNotification {
    const call: ToolCallNotification = {
      sessionId: 's1',
      turnId: 't1',
      arguments: {},
      requiresApproval: false,
      ...partial,
    };
    this.notify('agent/toolCall', call);
    return call;
  }

  done(): void {
    assert.deepEqual(
      this.steps.map((s) => s.method),
      [],
      'expected requests that never came',
    );
  }

  of<M extends MethodName>(method: M): Array<Params<M>> {
    return this.requests.filter((r) => r.method === method).map((r) => r.params as Params<M>);
  }
}

export function turn(partial: Partial<TurnResult> = {}): TurnResult {
  return { sessionId: 's1', turnId: 't1', status: 'completed', agent: 'code', pendingToolCalls: [], ...partial };
}

export class RecordingTools implements ToolRunner {
  readonly executed: Array<{ name: string; args: Record<string, unknown> }> = [];
  outcome: (name: string) => ToolOutcome = (name) => ({ status: 'success', content: `ran ${name}` });
  /** Resolves when a test lets the execution finish (for cancellation tests). */
  gate: Promise<void> | undefined;

  async execute(name: string, args: Record<string, unknown>): Promise<ToolOutcome> {
    this.executed.push({ name, args });
    await this.gate;
    return this.outcome(name);
  }

  async propose(name: string, args: Record<string, unknown>): Promise<Proposal | undefined> {
    return name === 'write_file'
      ? {
          path: `/ws/${String(args['path'])}`,
          label: String(args['path']),
          before: undefined,
          after: String(args['content']),
        }
      : undefined;
  }
}

/** A scripted decision: keep asking until the turn is cancelled. */
export const WAIT = 'wait';

/** The user, answering approvals from a queue. */
export class ScriptedUser implements Ui {
  readonly asked: Array<{ call: ToolCall; proposal: Proposal | undefined }> = [];
  readonly decisions: Array<ToolDecision | undefined | typeof WAIT> = [];

  async approveToolCall(
    call: ToolCall,
    proposal: Proposal | undefined,
    signal?: AbortSignal,
  ): Promise<ToolDecision | undefined> {
    this.asked.push({ call, proposal });
    assert.ok(this.decisions.length > 0, `no decision scripted for ${call.name} ${call.callId}`);
    const decision = this.decisions.shift();
    if (decision !== WAIT) return decision;
    // Asking until the turn is cancelled.
    return new Promise((resolve) => signal?.addEventListener('abort', () => resolve(undefined)));
  }
}

export function recordEvents(controller: { onEvent(listener: (e: ChatEvent) => void): unknown }): ChatEvent[] {
  const events: ChatEvent[] = [];
  controller.onEvent((e) => events.push(e));
  return events;
}

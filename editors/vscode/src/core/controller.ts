/**
 * The session controller: the client's side of a turn.
 *
 * It sends the user's work (`agent/sendMessage`, `agent/approvePlan`, `agent/resume`,
 * …), then follows each TurnResult: for `awaiting_tool_results` it takes every pending
 * call (announced earlier by `agent/toolCall`), asks the user when the call requires
 * approval, executes it, and answers `agent/toolResult`; the answer to the batch's last
 * call brings the next TurnResult. The other statuses are rest points where the user
 * acts next (approve the plan, answer the question, write a new task).
 *
 * It depends on the connection, the tools and the approval prompt only through small
 * interfaces, so tests drive it against fakes and against the real sidecar.
 */
import type {
  AgentName,
  GetSessionResult,
  Mode,
  Plan,
  PlanDecision,
  ToolCallNotification,
  ToolResultParams,
  TurnResult,
} from '../protocol';
import type { Proposal, ToolOutcome } from './tools';
import {
  type Connection,
  type Disposable,
  errorMessage,
  isError,
  type MethodName,
  type Params,
  type Result,
} from './wire';

/** A client tool call, as announced by `agent/toolCall` or listed by `agent/getSession`. */
export type ToolCall = Pick<
  ToolCallNotification,
  | 'callId'
  | 'turnId'
  | 'name'
  | 'arguments'
  | 'requiresApproval'
  | 'reason'
  | 'planId'
  | 'subtaskId'
  | 'executedBy'
  | 'server'
>;

export type ToolDecision = { approve: true; remember: boolean } | { approve: false; feedback?: string };

export interface Ui {
  /**
   * Ask the user about a call that requires approval, showing the proposed change when
   * there is one. `undefined`: the user dismissed the question, or `signal` aborted it
   * (the turn was cancelled); the call stays unanswered and `resume` asks again.
   */
  approveToolCall(
    call: ToolCall,
    proposal: Proposal | undefined,
    signal?: AbortSignal,
  ): Promise<ToolDecision | undefined>;
}

export interface ToolRunner {
  execute(name: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<ToolOutcome>;
  propose(name: string, args: Record<string, unknown>): Promise<Proposal | undefined>;
}

/** What the chat view is told, in order. Plain JSON: it is posted to the webview as is. */
export type ChatEvent =
  | { kind: 'session'; sessionId: string | undefined }
  | { kind: 'busy'; busy: boolean }
  | { kind: 'user'; text: string }
  /** The assistant's text: what `stream` deltas join into is the answer. */
  | { kind: 'stream'; agent: AgentName; delta: string }
  /** The model's reasoning (`agent/stream` with `kind: "thought"`), never part of the answer. */
  | { kind: 'thought'; agent: AgentName; delta: string }
  | { kind: 'status'; event: string; detail: string }
  | { kind: 'plan'; plan: Plan }
  | { kind: 'toolCall'; call: ToolCall }
  | { kind: 'toolAnswered'; callId: string; status: ToolResultParams['status']; summary: string }
  | { kind: 'turn'; result: TurnResult }
  | { kind: 'history'; session: GetSessionResult }
  /**
   * A call waits for the user's decision in the chat (sent by the approvals, not the
   * controller): the question naming the action, what "Always" means, whether a diff exists.
   */
  | { kind: 'approval'; call: ToolCall; question: string; always: string; diff: boolean }
  /** The question about a call is closed (answered, or the turn was cancelled). */
  | { kind: 'approvalClosed'; callId: string }
  /** Something the client itself has to say (not from the sidecar). */
  | { kind: 'notice'; message: string }
  | { kind: 'error'; message: string };

export type Listener = (event: ChatEvent) => void;

export class SessionController implements Disposable {
  private sessionId: string | undefined;
  /** A request that starts a new session is in flight: its first notification names the session. */
  private adopting = false;
  private busy = false;
  /** Requests to the sidecar awaiting their response. */
  private inFlight = 0;
  private abort: AbortController | undefined;
  private last: TurnResult | undefined;
  private plan: Plan | undefined;
  private readonly calls = new Map<string, ToolCall>();
  private readonly listeners = new Set<Listener>();
  private readonly subscriptions: Disposable[];

  constructor(
    private readonly connection: Connection,
    private readonly tools: ToolRunner,
    private readonly ui: Ui,
  ) {
    this.subscriptions = [
      connection.onNotification('agent/toolCall', (p) => {
        if (!this.mine(p.sessionId)) return;
        this.calls.set(p.callId, p);
        this.emit({ kind: 'toolCall', call: p });
      }),
      connection.onNotification('agent/stream', (p) => {
        if (!this.mine(p.sessionId)) return;
        // A thought is an event of its own, so whoever joins the `stream` deltas gets the answer alone.
        this.emit({ kind: p.kind === 'thought' ? 'thought' : 'stream', agent: p.agent, delta: p.delta });
      }),
      connection.onNotification('agent/status', (p) => {
        if (this.mine(p.sessionId)) this.emit({ kind: 'status', event: p.event, detail: p.detail });
      }),
      connection.onNotification('agent/planUpdate', (p) => {
        if (!this.mine(p.sessionId)) return;
        this.plan = p.plan;
        this.emit({ kind: 'plan', plan: p.plan });
      }),
    ];
  }

  // --- what the view reads --------------------------------------------------------

  get state(): { sessionId: string | undefined; busy: boolean; last: TurnResult | undefined; plan: Plan | undefined } {
    return { sessionId: this.sessionId, busy: this.busy, last: this.last, plan: this.plan };
  }

  onEvent(listener: Listener): Disposable {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  // --- what the user does ---------------------------------------------------------

  /** A new task, or the answer to the agent's question, in the current session (a new one if none). */
  send(text: string, mode?: Mode): Promise<TurnResult | undefined> {
    return this.run(async (signal) => {
      this.emit({ kind: 'user', text });
      const params: Params<'agent/sendMessage'> = { text };
      if (mode !== undefined) params.mode = mode;
      if (this.sessionId !== undefined) params.sessionId = this.sessionId;
      else this.adopting = true;
      return this.drive(await this.request('agent/sendMessage', params), signal);
    });
  }

  decidePlan(decision: PlanDecision, feedback?: string): Promise<TurnResult | undefined> {
    return this.run(async (signal) => {
      const sessionId = this.requireSession();
      const planId = this.last?.status === 'awaiting_plan_approval' ? this.last.planId : undefined;
      const id = planId ?? (this.plan?.status === 'awaiting_approval' ? this.plan.id : undefined);
      if (id == null) throw new Error('no plan awaits approval in this session');
      const params: Params<'agent/approvePlan'> = { sessionId, planId: id, decision };
      if (feedback) params.feedback = feedback;
      return this.drive(await this.request('agent/approvePlan', params), signal);
    });
  }

  /** Continue where the session stopped: unanswered tool calls are sent again and asked again. */
  resume(): Promise<TurnResult | undefined> {
    return this.run(async (signal) =>
      this.drive(await this.request('agent/resume', { sessionId: this.requireSession() }), signal),
    );
  }

  retrySubtask(subtaskId: string): Promise<TurnResult | undefined> {
    return this.subtask('agent/retrySubtask', subtaskId);
  }

  skipSubtask(subtaskId: string): Promise<TurnResult | undefined> {
    return this.subtask('agent/skipSubtask', subtaskId);
  }

  /**
   * End the running turn. Allowed while another request runs: that request then ends
   * with status `cancelled`. A running command is killed; an approval being asked is
   * not answered.
   */
  async cancel(): Promise<boolean> {
    this.abort?.abort();
    if (this.sessionId === undefined) return false;
    try {
      const { cancelled } = await this.connection.sendRequest('agent/cancel', { sessionId: this.sessionId });
      // A request the sidecar is running reports its own `cancelled` TurnResult; a resting turn has none.
      if (cancelled && this.inFlight === 0) {
        this.last = undefined;
        this.emit({ kind: 'notice', message: 'The turn was cancelled.' });
      }
      return cancelled;
    } catch (error) {
      this.emit({ kind: 'error', message: errorMessage(error) });
      return false;
    }
  }

  /** Show a stored session; `resume` continues it. */
  open(sessionId: string): Promise<GetSessionResult | undefined> {
    return this.exclusive(async () => {
      const session = await this.request('agent/getSession', { sessionId });
      this.reset(sessionId);
      this.plan = session.plan ?? undefined;
      for (const call of session.pendingToolCalls) this.calls.set(call.callId, call);
      this.emit({ kind: 'history', session });
      return session;
    });
  }

  /** Forget the current session: the next message starts a new one. */
  newSession(): void {
    if (this.busy) throw new Error('a request is running in this chat: cancel it first');
    this.reset(undefined);
  }

  dispose(): void {
    this.abort?.abort();
    for (const s of this.subscriptions) s.dispose();
    this.listeners.clear();
  }

  // --- the turn loop --------------------------------------------------------------

  private async drive(first: TurnResult, signal: AbortSignal): Promise<TurnResult> {
    let result = first;
    for (;;) {
      this.settle(result);
      if (result.status !== 'awaiting_tool_results' || signal.aborted) return result;
      const next = await this.answerBatch(result, signal);
      if (next === undefined) return result;
      result = next;
    }
  }

  /**
   * Answer every pending call of the batch, in order. The last answer's TurnResult is
   * the turn's next stop. `undefined`: the batch was left unanswered (dismissed,
   * cancelled, or answered elsewhere) and `resume` picks it up.
   */
  private async answerBatch(result: TurnResult, signal: AbortSignal): Promise<TurnResult | undefined> {
    let latest: TurnResult | undefined;
    for (const callId of result.pendingToolCalls ?? []) {
      const call = this.calls.get(callId) ?? (await this.fetchCall(result.sessionId, callId));
      if (call === undefined) throw new Error(`the sidecar awaits tool call ${callId}, which it never sent`);
      const answer = await this.decide(result.sessionId, call, signal);
      if (answer === undefined || signal.aborted) return undefined;
      try {
        latest = await this.request('agent/toolResult', answer);
      } catch (error) {
        if (isError(error, 'TOOL_CALL_ALREADY_ANSWERED') || isError(error, 'UNKNOWN_TOOL_CALL')) {
          this.emit({ kind: 'error', message: `${errorMessage(error)}; use Resume to continue` });
          return undefined;
        }
        throw error;
      }
      this.emit({ kind: 'toolAnswered', callId, status: answer.status, summary: summary(answer) });
    }
    return latest;
  }

  private async decide(
    sessionId: string,
    call: ToolCall,
    signal: AbortSignal,
  ): Promise<Params<'agent/toolResult'> | undefined> {
    let decision: ToolDecision = { approve: true, remember: false };
    if (call.requiresApproval) {
      const proposal = await this.tools.propose(call.name, call.arguments);
      const asked = await this.ui.approveToolCall(call, proposal, signal);
      if (signal.aborted) return undefined;
      if (asked === undefined) {
        this.emit({ kind: 'notice', message: `${call.name} is waiting for your decision: press Resume to decide.` });
        return undefined;
      }
      decision = asked;
    }
    if (signal.aborted) return undefined;
    if (!decision.approve) {
      const rejected: Params<'agent/toolResult'> = { sessionId, callId: call.callId, status: 'rejected' };
      if (decision.feedback) rejected.feedback = decision.feedback;
      return rejected;
    }
    if (call.executedBy === 'server') {
      // an MCP tool: the sidecar runs it once approved; it is never executed here
      const approved: Params<'agent/toolResult'> = { sessionId, callId: call.callId, status: 'success' };
      if (decision.remember) approved.remember = true;
      return approved;
    }
    const outcome = await this.tools.execute(call.name, call.arguments, signal);
    const answer: Params<'agent/toolResult'> = { sessionId, callId: call.callId, ...outcome };
    if (decision.remember) answer.remember = true;
    return answer;
  }

  private async fetchCall(sessionId: string, callId: string): Promise<ToolCall | undefined> {
    const session = await this.request('agent/getSession', { sessionId });
    for (const call of session.pendingToolCalls) this.calls.set(call.callId, call);
    return this.calls.get(callId);
  }

  private settle(result: TurnResult): void {
    this.adopting = false;
    if (this.sessionId !== result.sessionId) {
      this.sessionId = result.sessionId;
      this.emit({ kind: 'session', sessionId: result.sessionId });
    }
    this.last = result;
    this.emit({ kind: 'turn', result });
  }

  // --- plumbing -------------------------------------------------------------------

  private subtask(method: 'agent/retrySubtask' | 'agent/skipSubtask', subtaskId: string) {
    return this.run(async (signal) => {
      const sessionId = this.requireSession();
      if (this.plan === undefined) throw new Error('this session has no plan');
      return this.drive(await this.request(method, { sessionId, planId: this.plan.id, subtaskId }), signal);
    });
  }

  /** One piece of work at a time per chat; failures become `error` events. */
  private run(work: (signal: AbortSignal) => Promise<TurnResult>): Promise<TurnResult | undefined> {
    return this.exclusive(async () => {
      this.abort = new AbortController();
      try {
        return await work(this.abort.signal);
      } finally {
        this.adopting = false;
        this.abort = undefined;
      }
    });
  }

  private async exclusive<T>(work: () => Promise<T>): Promise<T | undefined> {
    if (this.busy) {
      this.emit({ kind: 'error', message: 'a request is already running in this chat' });
      return undefined;
    }
    this.busy = true;
    this.emit({ kind: 'busy', busy: true });
    try {
      return await work();
    } catch (error) {
      this.emit({ kind: 'error', message: errorMessage(error) });
      return undefined;
    } finally {
      this.busy = false;
      this.emit({ kind: 'busy', busy: false });
    }
  }

  private async request<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>> {
    this.inFlight++;
    try {
      return await this.connection.sendRequest(method, params);
    } finally {
      this.inFlight--;
    }
  }

  private requireSession(): string {
    if (this.sessionId === undefined) throw new Error('no session: send a message first');
    return this.sessionId;
  }

  private mine(sessionId: string): boolean {
    if (this.sessionId === sessionId) return true;
    if (this.sessionId === undefined && this.adopting) {
      this.sessionId = sessionId;
      this.emit({ kind: 'session', sessionId });
      return true;
    }
    return false;
  }

  private reset(sessionId: string | undefined): void {
    this.sessionId = sessionId;
    this.last = undefined;
    this.plan = undefined;
    this.calls.clear();
    this.emit({ kind: 'session', sessionId });
  }

  private emit(event: ChatEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}

function summary(answer: Params<'agent/toolResult'>): string {
  if (answer.status === 'rejected') return answer.feedback ? `rejected: ${answer.feedback}` : 'rejected';
  const first = (answer.content ?? '').split('\n', 1)[0] ?? '';
  return first.length > 120 ? `${first.slice(0, 117)}…` : first;
}

/**
 * The chat webview: renders the transcript (streamed text as Markdown, the model's
 * thoughts folded apart, tool calls with their approval questions, the plan with
 * per-subtask status, results, questions) and posts the user's actions to the extension.
 */
import type { ChatEvent, ToolCall } from '../core/controller';
import type { GetSessionResult, Mode, Plan, TurnResult } from '../protocol';
import { markdownRenderer } from './markdown';
import type { Decision, FromView, ToView } from './messages';
import { Stream, type StreamPart } from './stream';

declare function acquireVsCodeApi(): { postMessage(message: FromView): void };

const vscode = acquireVsCodeApi();
const post = (message: FromView): void => vscode.postMessage(message);

const $ = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`#${id} missing`);
  return element as T;
};
const log = $<HTMLElement>('log');
const text = $<HTMLTextAreaElement>('text');
const mode = $<HTMLSelectElement>('mode');
const send = $<HTMLButtonElement>('send');
const resume = $<HTMLButtonElement>('resume');
const cancel = $<HTMLButtonElement>('cancel');
const working = $<HTMLElement>('working');
const sessionLabel = $<HTMLElement>('session');

const QUIET_EVENTS = new Set(['state_changed', 'nudged']);
const MARK: Record<string, string> = { pending: '○', in_progress: '◐', done: '✓', failed: '✗', skipped: '–' };

const state = {
  sessionId: undefined as string | undefined,
  busy: false,
  server: 'starting' as string,
};
const renderMarkdown = markdownRenderer(window);

/** Shows Markdown in `node`, sanitised (see markdown.ts). */
function showMarkdown(node: HTMLElement, markdown: string): void {
  node.innerHTML = renderMarkdown(markdown);
  node.classList.add('markdown');
}

/** The assistant's text and thoughts being streamed, while nothing else interrupts them. */
const stream = new Stream(document, (bubble) => append(bubble), showMarkdown);

// --- rendering ---------------------------------------------------------------------

function element(tag: string, className: string, content?: string): HTMLElement {
  const node = document.createElement(tag);
  node.className = className;
  if (content !== undefined) node.textContent = content;
  return node;
}

function append(node: HTMLElement): HTMLElement {
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(node);
  if (atBottom) log.scrollTop = log.scrollHeight;
  return node;
}

function line(className: string, content: string): HTMLElement {
  stream.end();
  return append(element('div', className, content));
}

/** The turn's final text was streamed just before: showing it again would repeat it. */
function streamedAlready(message: string): boolean {
  return stream.streamed().trim() === message.trim();
}

function markdownLine(className: string, content: string): HTMLElement {
  stream.end();
  const node = append(element('div', className));
  showMarkdown(node, content);
  return node;
}

function button(label: string, onClick: () => void, title?: string): HTMLButtonElement {
  const b = element('button', '', label) as HTMLButtonElement;
  b.type = 'button';
  if (title) b.title = title;
  b.addEventListener('click', onClick);
  return b;
}

function streamed(agent: string, part: StreamPart, delta: string): void {
  stream.add(agent, part, delta);
  log.scrollTop = log.scrollHeight;
}

function toolCall(call: ToolCall): void {
  const id = `call-${call.callId}`;
  if (document.getElementById(id) !== null) return; // sent again after a resume
  const card = element('div', 'tool');
  card.id = id;
  const args = call.arguments;
  const target =
    typeof args['command'] === 'string' ? args['command'] : typeof args['path'] === 'string' ? args['path'] : '';
  card.append(element('span', 'name', call.name), element('span', 'target', ` ${target}`));
  card.append(element('span', 'outcome muted', call.requiresApproval ? ' — needs your approval' : ' — running'));
  if (call.reason) card.title = call.reason;
  stream.end();
  append(card);
}

/** The question about a call, in its card: the user answers it there. */
function approval(event: Extract<ChatEvent, { kind: 'approval' }>): void {
  toolCall(event.call);
  const card = document.getElementById(`call-${event.call.callId}`);
  if (card === null || card.querySelector('.approval') !== null) return;
  const box = element('div', 'approval');
  box.append(element('div', 'ask', event.question));
  if (event.call.reason) box.append(element('div', 'muted reason', event.call.reason));
  const feedback = element('textarea', 'feedback') as HTMLTextAreaElement;
  feedback.rows = 2;
  feedback.placeholder = 'Feedback for the agent (optional, sent with Reject)';
  const answer = (decision: Decision): void => {
    box.querySelectorAll('button').forEach((b) => (b.disabled = true));
    const message: FromView = { type: 'approval', callId: event.call.callId, decision };
    const text = feedback.value.trim();
    if (decision === 'reject' && text) message.feedback = text;
    post(message);
  };
  const actions = element('div', 'actions');
  actions.append(
    button('Approve', () => answer('approve'), 'Run it'),
    button('Always', () => answer('always'), event.always),
    button('Reject', () => answer('reject'), 'Do not run it; the agent gets your feedback'),
  );
  if (event.diff) {
    const diff = (): void => post({ type: 'diff', callId: event.call.callId });
    actions.append(button('Show diff', diff, 'Open the diff editor beside the chat'));
  }
  box.append(actions, feedback);
  card.append(box);
  card.classList.add('asking');
  card.scrollIntoView?.({ block: 'nearest' });
}

function approvalClosed(callId: string): void {
  const card = document.getElementById(`call-${callId}`);
  card?.querySelector('.approval')?.remove();
  card?.classList.remove('asking');
}

function toolAnswered(callId: string, status: string, summary: string): void {
  const outcome = document.getElementById(`call-${callId}`)?.querySelector('.outcome') ?? null;
  if (outcome === null) return;
  const detail = status === 'rejected' ? summary.replace(/^rejected:?\s*/, '') : summary;
  outcome.textContent = ` — ${status}${detail ? `: ${detail}` : ''}`;
  outcome.className = `outcome ${status}`;
}

function plan(p: Plan): void {
  stream.end();
  const id = `plan-${p.id}`;
  let card = document.getElementById(id);
  if (card === null) {
    card = append(element('section', 'plan'));
    card.id = id;
  }
  card.replaceChildren();
  card.append(element('div', 'plan-head', `Plan v${p.version} · ${p.status.replace(/_/g, ' ')}`));
  card.append(element('div', 'goal', p.goal));
  if (p.feedback) card.append(element('div', 'muted', `Revised for: ${p.feedback}`));
  const list = element('ol', 'subtasks');
  for (const s of p.subtasks) {
    const item = element('li', `subtask ${s.status}`);
    const deps = s.dependencies?.length ? ` after ${s.dependencies.join(', ')}` : '';
    item.append(element('span', 'mark', MARK[s.status] ?? '?'), element('span', 'title', ` ${s.id} ${s.title}`));
    item.append(element('span', 'muted', ` (${s.agent}${deps})`));
    if (s.result) {
      const result = element('div', 'subtask-result');
      showMarkdown(result, s.result);
      item.append(result);
    }
    if (p.status === 'failed' && s.status === 'failed') {
      const actions = element('div', 'actions');
      actions.append(
        button('Retry', () => post({ type: 'retry', subtaskId: s.id }), 'Run this subtask again'),
        button('Skip', () => post({ type: 'skip', subtaskId: s.id }), 'Skip it and go on with the plan'),
      );
      item.append(actions);
    }
    list.append(item);
  }
  card.append(list);
  if (p.status === 'awaiting_approval') {
    const actions = element('div', 'actions');
    actions.append(
      button('Approve', () => post({ type: 'plan', decision: 'approve' }), 'Execute the plan'),
      button('Revise…', () => post({ type: 'plan', decision: 'revise' }), 'Ask the architect for changes'),
      button('Reject', () => post({ type: 'plan', decision: 'reject' }), 'Drop the plan'),
    );
    card.append(actions);
  }
}

function turn(result: TurnResult): void {
  switch (result.status) {
    case 'completed':
      if (result.message && !streamedAlready(result.message)) markdownLine('result', result.message);
      break;
    case 'failed':
      line('error', `Failed: ${result.error?.message ?? result.message ?? 'unknown error'}`);
      break;
    case 'cancelled':
      line('muted', 'Cancelled.');
      break;
    case 'awaiting_user_input':
      markdownLine('question', result.message ?? 'The agent asks a question.');
      break;
    case 'awaiting_plan_approval':
      line('muted', 'The plan awaits your decision.');
      break;
    case 'awaiting_tool_results':
      break;
  }
  text.placeholder =
    result.status === 'awaiting_user_input'
      ? 'Answer the question (Ctrl+Enter to send)'
      : 'Describe a task (Ctrl+Enter to send)';
}

function history(s: GetSessionResult): void {
  log.replaceChildren();
  stream.end();
  for (const m of s.messages) {
    if (m.role === 'user' && (m.kind === 'task' || m.kind === 'answer')) line('message user', m.content);
    else if (m.role === 'assistant' && m.content.trim()) {
      const bubble = line('message assistant', '');
      const body = element('div', 'body');
      showMarkdown(body, m.content);
      bubble.append(element('div', 'who', m.agent ?? 'assistant'), body);
    } else if (m.role === 'tool') line('muted tool-result', `↳ ${m.content.split('\n', 1)[0] ?? ''}`);
  }
  if (s.plan) plan(s.plan);
  for (const call of s.pendingToolCalls) toolCall(call);
  const waiting: Record<string, string> = {
    awaiting_tool_results: 'This session waits for tool results: press Resume.',
    awaiting_plan_approval: 'The plan awaits your decision.',
    awaiting_user_input: 'The agent asked a question: answer it below.',
    plan_paused: 'The plan is paused: press Resume, or retry / skip the failed subtask.',
  };
  const note = s.session.interrupted ? 'This session was interrupted: press Resume.' : waiting[s.session.state];
  if (note) line('muted', note);
}

function render(event: ChatEvent): void {
  switch (event.kind) {
    case 'session':
      if (event.sessionId === undefined) {
        log.replaceChildren();
        stream.end();
      }
      state.sessionId = event.sessionId;
      break;
    case 'busy':
      state.busy = event.busy;
      break;
    case 'user':
      line('message user', event.text);
      break;
    case 'stream':
      streamed(event.agent, 'text', event.delta);
      break;
    case 'thought':
      streamed(event.agent, 'thought', event.delta);
      break;
    case 'status':
      if (!QUIET_EVENTS.has(event.event)) line('status muted', `· ${event.detail}`);
      break;
    case 'plan':
      plan(event.plan);
      break;
    case 'toolCall':
      toolCall(event.call);
      break;
    case 'toolAnswered':
      toolAnswered(event.callId, event.status, event.summary);
      break;
    case 'approval':
      approval(event);
      break;
    case 'approvalClosed':
      approvalClosed(event.callId);
      break;
    case 'turn':
      turn(event.result);
      break;
    case 'history':
      history(event.session);
      break;
    case 'notice':
      line('muted', event.message);
      break;
    case 'error':
      line('error', event.message);
      break;
  }
  refresh();
}

function refresh(): void {
  const running = state.server === 'running';
  send.disabled = state.busy || !running;
  resume.disabled = state.busy || !running || state.sessionId === undefined;
  cancel.disabled = !running || state.sessionId === undefined;
  working.hidden = !state.busy;
  document.body.classList.toggle('busy', state.busy || !running);
  sessionLabel.textContent = state.sessionId ? `session ${state.sessionId.slice(0, 8)}` : 'new session';
}

// --- wiring ------------------------------------------------------------------------

/** Adds the selection or file sent as context to the composer, for the user to finish. */
function addContext(quote: string): void {
  const before = text.value.trimEnd();
  text.value = before ? `${before}\n\n${quote}` : quote;
  text.focus();
  text.setSelectionRange(text.value.length, text.value.length);
}

window.addEventListener('message', (e: MessageEvent<ToView>) => {
  const message = e.data;
  if (message.type === 'event') render(message.event);
  else if (message.type === 'context') addContext(message.text);
  else {
    state.server = message.state;
    if (message.message) line(message.state === 'stopped' ? 'error' : 'muted', message.message);
    refresh();
  }
});

$<HTMLFormElement>('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  const task = text.value.trim();
  if (!task || send.disabled) return;
  post({ type: 'send', text: task, mode: mode.value as Mode });
  text.value = '';
});
text.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    $<HTMLFormElement>('composer').requestSubmit();
  }
});
$('new').addEventListener('click', () => post({ type: 'new' }));
$('sessions').addEventListener('click', () => post({ type: 'sessions' }));
resume.addEventListener('click', () => post({ type: 'resume' }));
cancel.addEventListener('click', () => post({ type: 'cancel' }));

refresh();
post({ type: 'ready' });

/**
 * Asking the user about a tool call, in the chat next to the call: its card shows the
 * question ("Write app.py?", "Run `npm test`?"), Approve / Always / Reject with a box for
 * feedback, and, for a write, "Show diff", which opens VS Code's diff editor on the
 * proposed content (a read-only virtual document) against the file. Nothing pops up and
 * nothing takes the keyboard; the answer comes back from the chat view. Cancelling the
 * turn takes the question away, unanswered.
 */
import * as vscode from 'vscode';
import type { ChatEvent, ToolCall, ToolDecision, Ui } from '../core/controller';
import type { Proposal } from '../core/tools';
import type { Decision, FromView } from '../webview/messages';

export const PROPOSAL_SCHEME = 'codelab-proposal';

/** Read-only documents holding proposed contents, keyed by URI. */
export class ProposalDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly contents = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.contents.get(uri.toString()) ?? '';
  }

  /** A URI for `text`, named after the file so the editor picks its language. */
  put(callId: string, side: 'before' | 'after', label: string, text: string): vscode.Uri {
    const uri = vscode.Uri.from({ scheme: PROPOSAL_SCHEME, path: `/${label}`, query: `${callId}.${side}` });
    this.contents.set(uri.toString(), text);
    this.changed.fire(uri);
    return uri;
  }

  drop(uri: vscode.Uri): void {
    this.contents.delete(uri.toString());
  }

  dispose(): void {
    this.contents.clear();
    this.changed.dispose();
  }
}

interface Waiting {
  call: ToolCall;
  proposal: Proposal | undefined;
  /** The URIs of the diff editor opened for it, closed once it is answered. */
  shown: vscode.Uri[];
  finish(decision: ToolDecision | undefined): void;
}

export class ChatApprovals implements Ui {
  private readonly waiting = new Map<string, Waiting>();

  constructor(
    private readonly proposals: ProposalDocuments,
    /** Shows an event in the chat. */
    private readonly post: (event: ChatEvent) => void,
  ) {}

  approveToolCall(
    call: ToolCall,
    proposal: Proposal | undefined,
    signal?: AbortSignal,
  ): Promise<ToolDecision | undefined> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve(undefined);
      const abort = (): void => waiting.finish(undefined);
      const waiting: Waiting = {
        call,
        proposal,
        shown: [],
        finish: (decision) => {
          if (this.waiting.get(call.callId) !== waiting) return;
          this.waiting.delete(call.callId);
          signal?.removeEventListener('abort', abort);
          this.post({ kind: 'approvalClosed', callId: call.callId });
          void this.closeDiff(waiting.shown);
          resolve(decision);
        },
      };
      signal?.addEventListener('abort', abort);
      this.waiting.set(call.callId, waiting);
      this.post(approvalEvent(call, proposal));
    });
  }

  /** The user's answer from the chat; false when no question with that id is open. */
  answer(callId: string, decision: Decision, feedback?: string): boolean {
    const waiting = this.waiting.get(callId);
    if (waiting === undefined) return false;
    const text = feedback?.trim();
    if (decision === 'reject') waiting.finish(text ? { approve: false, feedback: text } : { approve: false });
    else waiting.finish({ approve: true, remember: decision === 'always' });
    return true;
  }

  /** Opens the diff editor of the proposed change (focus stays in the chat). */
  async showDiff(callId: string): Promise<boolean> {
    const waiting = this.waiting.get(callId);
    if (waiting?.proposal === undefined) return false;
    const { call, proposal } = waiting;
    const right = this.proposals.put(call.callId, 'after', proposal.label, proposal.after);
    const left =
      proposal.before === undefined
        ? this.proposals.put(call.callId, 'before', proposal.label, '')
        : vscode.Uri.file(proposal.path);
    const verb = proposal.before === undefined ? 'new file' : 'proposed change';
    await vscode.commands.executeCommand('vscode.diff', left, right, `${proposal.label} (${verb})`, {
      preview: true,
      preserveFocus: true,
    });
    waiting.shown.push(...(left.scheme === PROPOSAL_SCHEME ? [left, right] : [right]));
    return true;
  }

  /** Handles the chat view's messages about approvals; false for any other message. */
  receive(message: FromView): boolean {
    if (message.type === 'approval') {
      this.answer(message.callId, message.decision, message.feedback);
      return true;
    }
    if (message.type === 'diff') {
      void this.showDiff(message.callId);
      return true;
    }
    return false;
  }

  /** The questions open now, for a chat view that starts again blank. */
  pending(): ChatEvent[] {
    return [...this.waiting.values()].map((w) => approvalEvent(w.call, w.proposal));
  }

  private async closeDiff(uris: vscode.Uri[]): Promise<void> {
    if (uris.length === 0) return;
    const ours = new Set(uris.map((u) => u.toString()));
    const tabs = vscode.window.tabGroups.all
      .flatMap((group) => group.tabs)
      .filter((tab) => tab.input instanceof vscode.TabInputTextDiff && ours.has(tab.input.modified.toString()));
    if (tabs.length > 0) await vscode.window.tabGroups.close(tabs, true);
    for (const uri of uris) this.proposals.drop(uri);
  }
}

function approvalEvent(call: ToolCall, proposal: Proposal | undefined): ChatEvent {
  return { kind: 'approval', call, question: question(call), always: always(call), diff: proposal !== undefined };
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The question, naming the action. */
export function question(call: ToolCall): string {
  const args = call.arguments;
  const path = text(args['path'] ?? '');
  switch (call.name) {
    case 'write_file':
      return `Write ${path}?`;
    case 'edit_file':
      return `Edit ${path}?`;
    case 'create_directory':
      return `Create the folder ${path}?`;
    case 'read_file':
      return `Read ${path}?`;
    case 'list_files':
      return `List ${path}?`;
    case 'search_in_code':
      return `Search for "${text(args['query'])}"?`;
    case 'execute_command': {
      const cwd = typeof args['cwd'] === 'string' ? ` in ${args['cwd']}` : '';
      return `Run \`${text(args['command'])}\`${cwd}?`;
    }
    default:
      return `Run ${call.name}?`;
  }
}

/** What "Always" approves for the rest of the session. */
function always(call: ToolCall): string {
  if (call.name === 'execute_command') {
    return 'Approve, and run commands with this prefix without asking in this session';
  }
  return `Approve, and run ${call.name} without asking in this session`;
}

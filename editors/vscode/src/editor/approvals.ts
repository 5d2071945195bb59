/**
 * Asking the user about a tool call: a quick pick with Approve / Approve always / Reject
 * (then an input box for feedback to the agent). For a write, a diff editor shows the
 * proposed content (a virtual document) against the file while the question is open;
 * the quick pick stays open when focus moves, so the diff can be scrolled and read
 * (a modal dialog would block it).
 */
import * as vscode from 'vscode';
import type { ToolCall, ToolDecision, Ui } from '../core/controller';
import type { Proposal } from '../core/tools';

export const PROPOSAL_SCHEME = 'codelab-proposal';

export const APPROVE = '$(check) Approve';
export const APPROVE_ALWAYS = '$(check-all) Approve always';
export const REJECT = '$(close) Reject';

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

export class VsCodeApprovals implements Ui {
  constructor(private readonly proposals: ProposalDocuments) {}

  async approveToolCall(
    call: ToolCall,
    proposal: Proposal | undefined,
    signal?: AbortSignal,
  ): Promise<ToolDecision | undefined> {
    // Cancelling the turn closes the question.
    const cancellation = new vscode.CancellationTokenSource();
    const cancel = (): void => cancellation.cancel();
    signal?.addEventListener('abort', cancel);
    const shown = proposal === undefined ? [] : await this.showDiff(call, proposal);
    try {
      const choice = await vscode.window.showQuickPick(
        choices(call, proposal),
        { title: title(call), placeHolder: call.reason ?? 'Run this tool call?', ignoreFocusOut: true },
        cancellation.token,
      );
      if (choice === undefined) return undefined;
      if (choice.label !== REJECT) return { approve: true, remember: choice.label === APPROVE_ALWAYS };
      const feedback = await vscode.window.showInputBox(
        {
          title: `Reject ${call.name}`,
          prompt: 'Feedback for the agent (optional): what should it do instead?',
          ignoreFocusOut: true,
        },
        cancellation.token,
      );
      if (signal?.aborted) return undefined;
      return feedback?.trim() ? { approve: false, feedback: feedback.trim() } : { approve: false };
    } finally {
      signal?.removeEventListener('abort', cancel);
      cancellation.dispose();
      await this.closeDiff(shown);
    }
  }

  private async showDiff(call: ToolCall, proposal: Proposal): Promise<vscode.Uri[]> {
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
    return left.scheme === PROPOSAL_SCHEME ? [left, right] : [right];
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

function title(call: ToolCall): string {
  const args = call.arguments;
  const target =
    typeof args['command'] === 'string' ? args['command'] : typeof args['path'] === 'string' ? args['path'] : '';
  return `Allow ${call.name}${target ? `: ${target}` : ''}?`;
}

function choices(call: ToolCall, proposal: Proposal | undefined): vscode.QuickPickItem[] {
  const shown = Object.entries(call.arguments)
    .filter(([key]) => key !== 'content' && key !== 'old_text' && key !== 'new_text')
    .map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' · ');
  const what = proposal === undefined ? shown : `${shown} — the diff editor shows the proposed content`;
  const always = call.name === 'execute_command' ? 'this command prefix' : `${call.name}`;
  return [
    { label: APPROVE, description: 'run it', detail: what },
    { label: APPROVE_ALWAYS, description: `run it, and ${always} without asking for the rest of the session` },
    { label: REJECT, description: 'do not run it; tell the agent why (optional)' },
  ];
}

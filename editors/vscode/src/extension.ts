/**
 * Wiring: the sidecar (vscode-languageclient), the session controller, the tools on
 * VS Code's APIs, the chat view, the sessions list, commands and settings.
 */
import * as vscode from 'vscode';
import { DidChangeConfigurationNotification, type LanguageClient } from 'vscode-languageclient/node';
import { SessionController } from './core/controller';
import {
  ignoredWorkspaceSettings,
  needsRestart,
  RESTART_KEYS,
  readSettings,
  SECTION,
  type SidecarSettings,
} from './core/settings';
import { startFailure } from './core/install';
import { ToolExecutor } from './core/tools';
import { type Connection, errorMessage } from './core/wire';
import { ChatApprovals, PROPOSAL_SCHEME, ProposalDocuments } from './editor/approvals';
import { ChatView } from './editor/chatView';
import { quoteEditor } from './editor/context';
import { VsCodeToolHost } from './editor/host';
import { SessionsTree, sessionOf } from './editor/sessions';
import { createClient } from './editor/sidecar';
import type { PlanDecision } from './protocol';
import type { FromView } from './webview/messages';

let running: Extension | undefined;

export function activate(context: vscode.ExtensionContext): void {
  running = new Extension(context);
  context.subscriptions.push(running);
}

export function deactivate(): Promise<void> | undefined {
  return running?.stop();
}

class Extension implements vscode.Disposable {
  private client: LanguageClient | undefined;
  /** What the running sidecar was started with. */
  private launched: SidecarSettings | undefined;
  private controller: SessionController | undefined;
  private starting: Promise<SessionController | undefined> | undefined;
  private viewReadyCount = 0;
  private readonly output = vscode.window.createOutputChannel('Codelab Agent');
  private readonly proposals = new ProposalDocuments();
  private readonly chat: ChatView;
  private readonly approvals: ChatApprovals;
  private readonly sessions: SessionsTree;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(context: vscode.ExtensionContext) {
    this.chat = new ChatView(context.extensionUri, (message) => void this.fromView(message));
    this.approvals = new ChatApprovals(this.proposals, (event) => {
      this.chat.post(event);
      if (event.kind === 'approval') this.chat.attention(`Codelab Agent: ${event.question} Answer in the chat.`);
    });
    this.sessions = new SessionsTree(() => this.connection());
    const command = (id: string, run: (...args: unknown[]) => unknown): void => {
      this.disposables.push(vscode.commands.registerCommand(id, run));
    };
    this.disposables.push(
      this.output,
      this.proposals,
      vscode.workspace.registerTextDocumentContentProvider(PROPOSAL_SCHEME, this.proposals),
      vscode.window.registerWebviewViewProvider(ChatView.id, this.chat, {
        webviewOptions: { retainContextWhenHidden: true },
      }),
      vscode.window.createTreeView(SessionsTree.id, { treeDataProvider: this.sessions }),
      vscode.workspace.onDidChangeConfiguration((e) => this.configurationChanged(e)),
    );
    command('codelab.newSession', () => this.newSession());
    command('codelab.openSession', (id) => this.openSession(typeof id === 'string' ? id : undefined));
    command('codelab.deleteSession', (item) => this.deleteSession(item));
    command('codelab.refreshSessions', () => this.sessions.refresh());
    command('codelab.loadMoreSessions', () => this.sessions.loadMore());
    command('codelab.resume', async () => (await this.ensure())?.resume());
    command('codelab.cancel', async () => (await this.ensure())?.cancel());
    command('codelab.restartServer', () => this.restart());
    command('codelab.showLog', () => this.output.show());
    command('codelab.sendSelection', () => this.sendContext('selection'));
    command('codelab.sendFile', () => this.sendContext('file'));
  }

  // --- the sidecar --------------------------------------------------------------------

  /** The running client, typed by the wire contract. */
  private connection(): Connection | undefined {
    return this.client?.isRunning() ? this.client : undefined;
  }

  private ensure(): Promise<SessionController | undefined> {
    this.starting ??= this.start().then((controller) => {
      if (controller === undefined) this.starting = undefined; // let the next action try again
      return controller;
    });
    return this.starting;
  }

  private async start(): Promise<SessionController | undefined> {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    if (folder === undefined || folder.scheme !== 'file') {
      this.chat.server('stopped', 'Open a folder: the agents work inside the workspace folder.');
      return undefined;
    }
    const config = vscode.workspace.getConfiguration(SECTION);
    const settings = readSettings(config, folder.fsPath);
    const ignored = ignoredWorkspaceSettings(config);
    if (ignored.length > 0) {
      this.output.appendLine(
        `Ignored in the workspace's settings (only your user settings can set them): ${ignored.join(', ')}`,
      );
    }
    this.chat.server('starting');
    const client = createClient(settings, folder.fsPath, this.output);
    try {
      await client.start();
    } catch (error) {
      const message = startFailure(settings.serverPath, errorMessage(error));
      this.chat.server('stopped', message);
      void vscode.window.showErrorMessage(message, 'Open Settings', 'Show Log').then((choice) => {
        if (choice === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', SECTION);
        if (choice === 'Show Log') this.output.show();
      });
      void client.dispose().catch(() => undefined);
      return undefined;
    }
    this.client = client;
    this.launched = settings;
    const tools = new ToolExecutor(new VsCodeToolHost(folder.fsPath));
    const controller = new SessionController(client, tools, this.approvals);
    controller.onEvent((event) => {
      this.chat.post(event);
      if (event.kind === 'turn' || event.kind === 'history') this.sessions.refresh();
    });
    this.controller = controller;
    this.chat.server('running');
    this.sessions.refresh();
    return controller;
  }

  async stop(): Promise<void> {
    this.controller?.dispose();
    this.controller = undefined;
    this.starting = undefined;
    const client = this.client;
    this.client = undefined;
    this.launched = undefined;
    if (client !== undefined) await client.stop().catch(() => undefined);
  }

  private async restart(): Promise<void> {
    const sessionId = this.controller?.state.sessionId;
    await this.stop();
    this.chat.server('stopped', 'Restarting the sidecar…');
    const controller = await this.ensure();
    if (controller !== undefined && sessionId !== undefined) await controller.open(sessionId);
  }

  private configurationChanged(e: vscode.ConfigurationChangeEvent): void {
    if (!e.affectsConfiguration(SECTION) || this.client === undefined) return;
    const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '';
    const next = readSettings(vscode.workspace.getConfiguration(SECTION), root);
    // Flags are fixed at start; a workspace's value of a user-only setting changes nothing.
    const launch = RESTART_KEYS.some((key) => e.affectsConfiguration(`${SECTION}.${key}`));
    if (launch && (this.launched === undefined || needsRestart(this.launched, next))) {
      void vscode.window
        .showInformationMessage('Restart the Codelab Agent sidecar to apply the new settings?', 'Restart')
        .then((choice) => choice && this.restart());
      return;
    }
    const { configuration } = next;
    void this.client.sendNotification(DidChangeConfigurationNotification.type, { settings: configuration });
  }

  // --- the user's actions ----------------------------------------------------------------

  private async fromView(message: FromView): Promise<void> {
    if (message.type === 'ready') {
      const controller = await this.ensure();
      const sessionId = controller?.state.sessionId;
      // A webview created again (moved, reloaded) starts blank: show the session again.
      if (this.viewReadyCount++ > 0 && controller !== undefined && sessionId !== undefined) {
        if (!controller.state.busy) await controller.open(sessionId);
        for (const question of this.approvals.pending()) this.chat.post(question);
      }
      return;
    }
    if (this.approvals.receive(message)) return;
    if (message.type === 'new') return this.newSession();
    if (message.type === 'sessions') return this.openSession(undefined);
    const controller = await this.ensure();
    if (controller === undefined) return;
    switch (message.type) {
      case 'send':
        await controller.send(message.text, message.mode);
        break;
      case 'plan':
        await this.decidePlan(controller, message.decision);
        break;
      case 'retry':
        await controller.retrySubtask(message.subtaskId);
        break;
      case 'skip':
        await controller.skipSubtask(message.subtaskId);
        break;
      case 'resume':
        await controller.resume();
        break;
      case 'cancel':
        await controller.cancel();
        break;
    }
  }

  private async decidePlan(controller: SessionController, decision: PlanDecision): Promise<void> {
    if (decision === 'approve') {
      await controller.decidePlan('approve');
      return;
    }
    const feedback = await vscode.window.showInputBox({
      title: decision === 'revise' ? 'Revise the plan' : 'Reject the plan',
      prompt: decision === 'revise' ? 'What should change?' : 'Why? (optional, Enter to reject)',
      ignoreFocusOut: true,
      validateInput: (value) => (decision === 'revise' && !value.trim() ? 'Say what should change' : undefined),
    });
    if (feedback === undefined) return; // dismissed: nothing decided
    await controller.decidePlan(decision, feedback.trim() || undefined);
  }

  /** Puts the selection (or the whole file) into the chat's composer as context. */
  private sendContext(what: 'selection' | 'file'): void {
    const quote = quoteEditor(vscode.window.activeTextEditor, what);
    if (quote === undefined) {
      void vscode.window.showWarningMessage('Codelab Agent: open a file first.');
      return;
    }
    this.chat.context(quote);
  }

  private async newSession(): Promise<void> {
    const controller = await this.ensure();
    try {
      controller?.newSession();
    } catch (error) {
      void vscode.window.showWarningMessage(errorMessage(error));
    }
    this.chat.reveal();
  }

  private async openSession(sessionId: string | undefined): Promise<void> {
    const controller = await this.ensure();
    const client = this.connection();
    if (controller === undefined || client === undefined) return;
    let id = sessionId;
    if (id === undefined) {
      const { sessions } = await client.sendRequest('agent/listSessions', { limit: 50 });
      const picked = await vscode.window.showQuickPick(
        sessions.map((s) => ({
          label: s.title,
          description: s.interrupted ? 'interrupted' : s.state.replace(/_/g, ' '),
          detail: `${new Date(s.updatedAt).toLocaleString()} · ${s.id}`,
          id: s.id,
        })),
        { title: 'Open a session', matchOnDetail: true },
      );
      id = picked?.id;
    }
    if (id === undefined) return;
    this.chat.reveal();
    await controller.open(id);
  }

  private async deleteSession(item: unknown): Promise<void> {
    const session = sessionOf(item);
    const client = this.connection();
    if (session === undefined || client === undefined) return;
    const confirmed = await vscode.window.showWarningMessage(
      `Delete the session "${session.title}"?`,
      { modal: true, detail: 'Its messages, plans and tool calls are removed from the database.' },
      'Delete',
    );
    if (confirmed !== 'Delete') return;
    try {
      await client.sendRequest('agent/deleteSession', { sessionId: session.id });
    } catch (error) {
      void vscode.window.showErrorMessage(`Could not delete the session: ${errorMessage(error)}`);
    }
    if (this.controller?.state.sessionId === session.id && !this.controller.state.busy) this.controller.newSession();
    this.sessions.refresh();
  }

  dispose(): void {
    void this.stop();
    for (const d of this.disposables) d.dispose();
  }
}

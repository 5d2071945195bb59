/** The chat: a webview view that renders the controller's events and sends the user's actions. */
import * as vscode from 'vscode';
import type { ChatEvent } from '../core/controller';
import type { FromView, ServerState, ToView } from '../webview/messages';

export type ChatActions = (message: FromView) => void;

export class ChatView implements vscode.WebviewViewProvider {
  static readonly id = 'codelab.chat';
  private view: vscode.WebviewView | undefined;
  /** Events before the first webview could listen; sent on its `ready`. */
  private backlog: ChatEvent[] = [];
  private serverState: ToView = { type: 'server', state: 'starting' };
  private ready = false;
  private readyCount = 0;
  /** Context for the composer, sent when a webview listens. */
  private contexts: string[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly actions: ChatActions,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.ready = false;
    const dist = vscode.Uri.joinPath(this.extensionUri, 'dist');
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    view.webview.options = { enableScripts: true, localResourceRoots: [dist, media] };
    view.webview.html = html(view.webview, dist, media);
    view.webview.onDidReceiveMessage((message: FromView) => {
      if (message.type === 'ready') this.flush();
      this.actions(message);
    });
    view.onDidDispose(() => {
      this.view = undefined;
      this.ready = false;
    });
  }

  post(event: ChatEvent): void {
    if (this.view !== undefined && this.ready) void this.view.webview.postMessage({ type: 'event', event });
    else if (this.readyCount === 0) this.backlog.push(event);
  }

  server(state: ServerState, message?: string): void {
    this.serverState = message === undefined ? { type: 'server', state } : { type: 'server', state, message };
    if (this.view !== undefined && this.ready) void this.view.webview.postMessage(this.serverState);
  }

  /** Adds the selection or file quoted in `text` to the composer, showing the chat. */
  context(text: string): void {
    this.contexts.push(text);
    if (this.view !== undefined && this.ready) this.flushContexts();
    this.reveal();
  }

  private flushContexts(): void {
    for (const text of this.contexts) void this.view?.webview.postMessage({ type: 'context', text });
    this.contexts = [];
  }

  /**
   * Draws the user to the chat without taking the keyboard: the view is shown with the
   * focus left where it is; a view never opened yet gets a notification instead.
   */
  attention(message: string): void {
    if (this.view !== undefined) {
      this.view.show(true);
      return;
    }
    void vscode.window.showInformationMessage(message, 'Open Chat').then((choice) => {
      if (choice === 'Open Chat') this.reveal();
    });
  }

  reveal(): void {
    if (this.view !== undefined) this.view.show(true);
    else void vscode.commands.executeCommand(`${ChatView.id}.focus`);
  }

  /**
   * A webview that starts listening gets the sidecar's state, and the first one the
   * events it missed. A webview created again (the view was moved or closed) starts
   * blank instead: the extension shows the session again from `agent/getSession`.
   */
  private flush(): void {
    this.ready = true;
    const missed = this.readyCount++ === 0 ? this.backlog : [];
    this.backlog = [];
    void this.view?.webview.postMessage(this.serverState);
    for (const event of missed) void this.view?.webview.postMessage({ type: 'event', event });
    this.flushContexts();
  }
}

function html(webview: vscode.Webview, dist: vscode.Uri, media: vscode.Uri): string {
  const nonce = Array.from({ length: 32 }, () => Math.floor(Math.random() * 36).toString(36)).join('');
  const script = webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.js'));
  const style = webview.asWebviewUri(vscode.Uri.joinPath(media, 'chat.css'));
  return chatPage({ cspSource: webview.cspSource, nonce, script: script.toString(), style: style.toString() });
}

/** The chat's page: its Content-Security-Policy allows only the bundled script and stylesheet. */
export function chatPage(o: { cspSource: string; nonce: string; script: string; style: string }): string {
  const csp = `default-src 'none'; style-src ${o.cspSource}; script-src 'nonce-${o.nonce}';`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${csp}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <link rel="stylesheet" href="${o.style}">
  <title>Codelab Agent</title>
</head>
<body>
  <header id="toolbar">
    <button id="new" title="Start a new session">New</button>
    <button id="sessions" title="Open a stored session">Sessions…</button>
    <button id="resume" title="Continue where the session stopped">Resume</button>
    <button id="cancel" title="End the running turn">Cancel</button>
    <span id="session" class="muted"></span>
  </header>
  <main id="log" aria-live="polite"></main>
  <div id="working" class="muted" hidden>Working…</div>
  <form id="composer">
    <textarea id="text" rows="3" placeholder="Describe a task (Ctrl+Enter to send)"></textarea>
    <div class="row">
      <select id="mode" title="Who handles the task">
        <option value="auto">auto</option>
        <option value="code">code</option>
        <option value="architect">architect</option>
        <option value="debug">debug</option>
        <option value="explain">explain</option>
      </select>
      <button id="send" type="submit">Send</button>
    </div>
  </form>
  <script nonce="${o.nonce}" src="${o.script}"></script>
</body>
</html>`;
}

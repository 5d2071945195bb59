/** The stored sessions (`agent/listSessions`), newest first; selecting one opens it in the chat. */
import * as vscode from 'vscode';
import type { Connection } from '../core/wire';
import type { SessionInfo } from '../protocol';

const PAGE = 50;

type Item = { kind: 'session'; session: SessionInfo } | { kind: 'more' };

const ICONS: Partial<Record<SessionInfo['state'], string>> = {
  idle: 'comment-discussion',
  awaiting_tool_results: 'tools',
  awaiting_user_input: 'question',
  awaiting_plan_approval: 'checklist',
  plan_paused: 'debug-pause',
};

export class SessionsTree implements vscode.TreeDataProvider<Item> {
  static readonly id = 'codelab.sessions';
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private sessions: SessionInfo[] = [];
  private cursor: string | undefined;
  private loaded = false;

  constructor(private readonly connection: () => Connection | undefined) {}

  refresh(): void {
    this.loaded = false;
    this.changed.fire();
  }

  async loadMore(): Promise<void> {
    await this.load(this.cursor);
    this.changed.fire();
  }

  async getChildren(parent?: Item): Promise<Item[]> {
    if (parent !== undefined) return [];
    if (!this.loaded) {
      this.sessions = [];
      await this.load(undefined);
    }
    const items: Item[] = this.sessions.map((session) => ({ kind: 'session', session }));
    return this.cursor === undefined ? items : [...items, { kind: 'more' }];
  }

  getTreeItem(item: Item): vscode.TreeItem {
    if (item.kind === 'more') {
      const more = new vscode.TreeItem('Load more…');
      more.command = { command: 'codelab.loadMoreSessions', title: 'Load more sessions' };
      return more;
    }
    const s = item.session;
    const tree = new vscode.TreeItem(s.title);
    const state = s.interrupted ? 'interrupted' : s.state.replace(/_/g, ' ');
    tree.description = `${state} · ${new Date(s.updatedAt).toLocaleString()}`;
    tree.tooltip = `${s.title}\n${s.id}\nagent: ${s.currentAgent} · ${state}`;
    tree.iconPath = new vscode.ThemeIcon(s.interrupted ? 'warning' : (ICONS[s.state] ?? 'sync'));
    tree.contextValue = 'session';
    tree.command = { command: 'codelab.openSession', title: 'Open session', arguments: [s.id] };
    return tree;
  }

  private async load(cursor: string | undefined): Promise<void> {
    const connection = this.connection();
    if (connection === undefined) return;
    try {
      const page = await connection.sendRequest(
        'agent/listSessions',
        cursor ? { limit: PAGE, cursor } : { limit: PAGE },
      );
      this.sessions.push(...page.sessions);
      this.cursor = page.nextCursor ?? undefined;
      this.loaded = true;
    } catch {
      // The sidecar is restarting; the next refresh asks again.
    }
  }
}

/** The session a context-menu command was invoked on. */
export function sessionOf(item: unknown): SessionInfo | undefined {
  if (typeof item === 'object' && item !== null && (item as Item).kind === 'session') {
    return (item as { session: SessionInfo }).session;
  }
  return undefined;
}

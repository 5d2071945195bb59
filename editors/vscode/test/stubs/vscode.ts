/**
 * A small stand-in for the `vscode` module, enough for src/editor/host.ts and
 * src/editor/approvals.ts: files on the real disk, open documents with unsaved text,
 * workspace edits that are recorded, and scripted answers to dialogs.
 *
 * Tests import `./register` first, which makes `require('vscode')` load this file.
 */
import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';

// --- values ------------------------------------------------------------------------

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly path: string,
    readonly query: string,
  ) {}

  static file(path: string): Uri {
    return new Uri('file', nodePath.resolve(path), '');
  }

  static from(parts: { scheme: string; path?: string; query?: string }): Uri {
    return new Uri(parts.scheme, parts.path ?? '', parts.query ?? '');
  }

  get fsPath(): string {
    return this.path;
  }

  toString(): string {
    return `${this.scheme}://${this.path}${this.query ? `?${this.query}` : ''}`;
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  constructor(
    readonly start: Position,
    readonly end: Position,
  ) {}
}

export enum FileType {
  Unknown = 0,
  File = 1,
  Directory = 2,
  SymbolicLink = 64,
}

export class FileSystemError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export class EventEmitter<T> {
  private readonly listeners: Array<(value: T) => void> = [];
  readonly event = (listener: (value: T) => void): { dispose(): void } => {
    this.listeners.push(listener);
    return { dispose: () => undefined };
  };
  fire(value: T): void {
    for (const l of this.listeners) l(value);
  }
  dispose(): void {
    this.listeners.length = 0;
  }
}

export class CancellationTokenSource {
  private readonly cancelled = new EventEmitter<void>();
  readonly token = { isCancellationRequested: false, onCancellationRequested: this.cancelled.event };
  cancel(): void {
    this.token.isCancellationRequested = true;
    this.cancelled.fire();
  }
  dispose(): void {
    this.cancelled.dispose();
  }
}

type Token = CancellationTokenSource['token'];

/** The next scripted answer; `WAIT` waits until the dialog is cancelled, then answers undefined. */
export const WAIT = '<wait for cancellation>';

function answer(token?: Token): Promise<string | undefined> {
  const next = state.answers.shift();
  if (next !== WAIT) return Promise.resolve(next);
  return new Promise((resolve) => token?.onCancellationRequested(() => resolve(undefined)));
}

// --- documents and edits -------------------------------------------------------------

export class TextDocument {
  isDirty = false;
  saves = 0;

  constructor(
    readonly uri: Uri,
    public text: string,
  ) {}

  getText(): string {
    return this.text;
  }

  positionAt(offset: number): Position {
    const before = this.text.slice(0, Math.max(0, Math.min(offset, this.text.length)));
    const lines = before.split('\n');
    return new Position(lines.length - 1, (lines[lines.length - 1] ?? '').length);
  }

  offsetAt(position: Position): number {
    const lines = this.text.split('\n');
    let offset = 0;
    for (let i = 0; i < position.line && i < lines.length; i++) offset += (lines[i] ?? '').length + 1;
    return offset + position.character;
  }

  async save(): Promise<boolean> {
    await fs.writeFile(this.uri.fsPath, this.text);
    this.isDirty = false;
    this.saves++;
    return true;
  }
}

type Operation =
  { op: 'createFile'; uri: Uri; ignoreIfExists: boolean } | { op: 'replace'; uri: Uri; range: Range; text: string };

export class WorkspaceEdit {
  readonly operations: Operation[] = [];

  createFile(uri: Uri, options?: { ignoreIfExists?: boolean }): void {
    this.operations.push({ op: 'createFile', uri, ignoreIfExists: options?.ignoreIfExists ?? false });
  }

  insert(uri: Uri, position: Position, text: string): void {
    this.operations.push({ op: 'replace', uri, range: new Range(position, position), text });
  }

  replace(uri: Uri, range: Range, text: string): void {
    this.operations.push({ op: 'replace', uri, range, text });
  }
}

// --- the editor's state, for tests to arrange and inspect ------------------------------

export const state = {
  documents: [] as TextDocument[],
  appliedEdits: [] as WorkspaceEdit[],
  commands: [] as Array<{ command: string; args: unknown[] }>,
  /** Answers the next dialogs return, in order (`undefined` = dismissed). */
  answers: [] as Array<string | undefined>,
  dialogs: [] as Array<{ kind: 'pick' | 'input'; message: string; items: string[] }>,
  tabs: [] as Array<{ input: unknown }>,
  /** The workspace folder, for asRelativePath. */
  root: '/',
};

export function reset(): void {
  state.documents.length = 0;
  state.appliedEdits.length = 0;
  state.commands.length = 0;
  state.answers.length = 0;
  state.dialogs.length = 0;
  state.tabs.length = 0;
  state.root = '/';
}

/** An open editor whose text differs from the file on disk. */
export function openUnsaved(path: string, text: string): TextDocument {
  const document = new TextDocument(Uri.file(path), text);
  document.isDirty = true;
  state.documents.push(document);
  return document;
}

// --- the API ---------------------------------------------------------------------------

async function notFound<T>(uri: Uri, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new FileSystemError(`${uri.fsPath}`, 'FileNotFound');
    throw error;
  }
}

export const workspace = {
  get textDocuments(): readonly TextDocument[] {
    return state.documents;
  },

  asRelativePath(uri: Uri): string {
    const relative = nodePath.relative(state.root, uri.fsPath);
    return relative.startsWith('..') ? uri.fsPath : relative;
  },

  fs: {
    readFile: (uri: Uri): Promise<Uint8Array> => notFound(uri, () => fs.readFile(uri.fsPath)),
    /** As VS Code's disk provider: a link has its target's type; a broken link or a FIFO or device is Unknown. */
    stat: (uri: Uri): Promise<{ type: FileType }> =>
      notFound(uri, async () => {
        const own = await fs.lstat(uri.fsPath);
        const link = own.isSymbolicLink() ? FileType.SymbolicLink : 0;
        const target = link ? await fs.stat(uri.fsPath).catch(() => undefined) : own;
        const type = target?.isDirectory() ? FileType.Directory : target?.isFile() ? FileType.File : FileType.Unknown;
        return { type: type | link };
      }),
    readDirectory: (uri: Uri): Promise<Array<[string, FileType]>> =>
      notFound(uri, async () => {
        const entries = await fs.readdir(uri.fsPath, { withFileTypes: true });
        return Promise.all(
          entries.map(async (e): Promise<[string, FileType]> => {
            const { type } = await workspace.fs.stat(Uri.file(nodePath.join(uri.fsPath, e.name)));
            return [e.name, type];
          }),
        );
      }),
    createDirectory: async (uri: Uri): Promise<void> => {
      await fs.mkdir(uri.fsPath, { recursive: true });
    },
  },

  async openTextDocument(uri: Uri): Promise<TextDocument> {
    const open = state.documents.find((d) => d.uri.fsPath === uri.fsPath);
    if (open !== undefined) return open;
    const document = new TextDocument(uri, await notFound(uri, () => fs.readFile(uri.fsPath, 'utf8')));
    state.documents.push(document);
    return document;
  },

  /** As VS Code: file operations first touch the disk, text edits change documents (dirty until saved). */
  async applyEdit(edit: WorkspaceEdit): Promise<boolean> {
    for (const operation of edit.operations) {
      if (operation.op === 'createFile') {
        const exists = await fs.stat(operation.uri.fsPath).then(
          () => true,
          () => false,
        );
        if (exists && !operation.ignoreIfExists) return false;
        if (!exists) await fs.writeFile(operation.uri.fsPath, '');
        continue;
      }
      const document = await workspace.openTextDocument(operation.uri);
      const start = document.offsetAt(operation.range.start);
      const end = document.offsetAt(operation.range.end);
      document.text = document.text.slice(0, start) + operation.text + document.text.slice(end);
      document.isDirty = true;
    }
    state.appliedEdits.push(edit);
    return true;
  },
};

export class TabInputTextDiff {
  constructor(
    readonly original: Uri,
    readonly modified: Uri,
  ) {}
}

export const window = {
  /** Answers with the item whose label is the next answer. */
  async showQuickPick<T extends { label: string }>(
    items: T[],
    options: { title?: string },
    token?: Token,
  ): Promise<T | undefined> {
    state.dialogs.push({ kind: 'pick', message: options.title ?? '', items: items.map((i) => i.label) });
    const label = await answer(token);
    return items.find((i) => i.label === label);
  },
  async showInputBox(options: { prompt?: string }, token?: Token): Promise<string | undefined> {
    state.dialogs.push({ kind: 'input', message: options.prompt ?? '', items: [] });
    return answer(token);
  },
  tabGroups: {
    get all(): Array<{ tabs: Array<{ input: unknown }> }> {
      return [{ tabs: [...state.tabs] }];
    },
    async close(tabs: Array<{ input: unknown }>): Promise<boolean> {
      for (const tab of tabs) state.tabs.splice(state.tabs.indexOf(tab), 1);
      return true;
    },
  },
};

export const commands = {
  async executeCommand(command: string, ...args: unknown[]): Promise<unknown> {
    state.commands.push({ command, args });
    if (command === 'vscode.diff') state.tabs.push({ input: new TabInputTextDiff(args[0] as Uri, args[1] as Uri) });
    return undefined;
  },
};

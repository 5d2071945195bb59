/**
 * The tools' access to the workspace through VS Code. Reads see open documents' unsaved
 * text. A write to a document open in VS Code is a `WorkspaceEdit` (undoable), then
 * saved; the target is checked right before the edit and again right before the save.
 * Every other read and write goes through the WorkspaceBoundary on disk (a read that
 * confirms what it opened, an atomic write by rename), where a symbolic link swapped in
 * after the check cannot carry it outside the workspace. Commands run in a child
 * process with their deadline.
 */
import * as nodePath from 'node:path';
import * as vscode from 'vscode';
import { describe as describeFsError, WorkspaceBoundary } from '../core/boundary';
import { runCommand, type CommandOutput } from '../core/command';
import { type DirectoryEntry, type FileKind, type ToolHost, ToolError } from '../core/tools';

const decoder = new TextDecoder('utf-8', { fatal: true });

export class VsCodeToolHost implements ToolHost {
  readonly boundary: WorkspaceBoundary;

  constructor(readonly root: string) {
    this.boundary = new WorkspaceBoundary(root);
  }

  async readText(path: string): Promise<string> {
    const open = this.document(path);
    if (open !== undefined) return open.getText();
    const bytes = await this.onDisk('read', path, () => this.boundary.readFile(path));
    try {
      return decoder.decode(bytes);
    } catch {
      throw new ToolError(`${this.relative(path)} is not a UTF-8 text file`);
    }
  }

  async stat(path: string): Promise<FileKind | undefined> {
    try {
      return kindOf((await vscode.workspace.fs.stat(vscode.Uri.file(path))).type);
    } catch {
      return undefined;
    }
  }

  async readDirectory(path: string): Promise<DirectoryEntry[]> {
    const entries = await vscode.workspace.fs.readDirectory(vscode.Uri.file(path));
    return entries.map(([name, type]) => ({
      name,
      kind: kindOf(type),
      link: (type & vscode.FileType.SymbolicLink) !== 0,
    }));
  }

  async writeText(path: string, content: string): Promise<void> {
    const open = this.document(path);
    if (open === undefined) return this.onDisk('write', path, () => this.boundary.writeFile(path, content));
    const edit = new vscode.WorkspaceEdit();
    edit.replace(open.uri, new vscode.Range(open.positionAt(0), open.positionAt(open.getText().length)), content);
    await this.apply(edit, path);
  }

  async replaceText(path: string, start: number, end: number, text: string): Promise<void> {
    const open = this.document(path);
    if (open === undefined) {
      const before = await this.readText(path);
      const after = before.slice(0, start) + text + before.slice(end);
      return this.onDisk('write', path, () => this.boundary.writeFile(path, after));
    }
    const edit = new vscode.WorkspaceEdit();
    edit.replace(open.uri, new vscode.Range(open.positionAt(start), open.positionAt(end)), text);
    await this.apply(edit, path);
  }

  createDirectory(path: string): Promise<void> {
    return this.onDisk('create', path, () => this.boundary.makeDirectories(path));
  }

  runCommand(command: string, cwd: string, timeoutSeconds: number, signal?: AbortSignal): Promise<CommandOutput> {
    return runCommand(command, cwd, timeoutSeconds, signal);
  }

  /**
   * Apply an edit to an open document and save it. VS Code writes the file itself,
   * following a final symbolic link, and its API has no way to make that write atomic or
   * link-free: the best an extension can do is check right before each step.
   */
  private async apply(edit: vscode.WorkspaceEdit, path: string): Promise<void> {
    await this.onDisk('write', path, () => this.boundary.makeDirectories(nodePath.dirname(path)));
    await this.onDisk('write', path, () => this.boundary.checkWriteTarget(path));
    if (!(await vscode.workspace.applyEdit(edit))) {
      throw new ToolError(`VS Code did not apply the edit to ${this.relative(path)}`);
    }
    const document = this.document(path) ?? (await vscode.workspace.openTextDocument(vscode.Uri.file(path)));
    if (!document.isDirty) return;
    await this.onDisk('write', path, () => this.boundary.checkWriteTarget(path));
    if (!(await document.save())) {
      throw new ToolError(`the edit of ${this.relative(path)} was applied but could not be saved`);
    }
  }

  /** A file system step; its failure as a ToolError naming the file. */
  private async onDisk<T>(doing: 'read' | 'write' | 'create', path: string, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      if (error instanceof ToolError) throw error;
      throw new ToolError(`cannot ${doing} ${this.relative(path)}: ${describeFsError(error)}`);
    }
  }

  private document(path: string): vscode.TextDocument | undefined {
    return vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'file' && samePath(d.uri.fsPath, path));
  }

  private relative(path: string): string {
    return nodePath.relative(this.root, path) || path;
  }
}

/** VS Code's type of a file: a link has its target's type; a special file or a broken link is Unknown. */
function kindOf(type: vscode.FileType): FileKind {
  if (type & vscode.FileType.Directory) return 'directory';
  if (type & vscode.FileType.File) return 'file';
  return 'other';
}

function samePath(a: string, b: string): boolean {
  return process.platform === 'win32' || process.platform === 'darwin' ? a.toLowerCase() === b.toLowerCase() : a === b;
}

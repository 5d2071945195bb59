/**
 * The tools' access to the workspace through VS Code: reads see open documents'
 * unsaved text, writes are `WorkspaceEdit`s (undoable) that are then saved, and
 * commands run in a child process with their deadline.
 */
import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import * as vscode from 'vscode';
import { runCommand, type CommandOutput } from '../core/command';
import { type DirectoryEntry, type FileKind, type ToolHost, ToolError } from '../core/tools';

const decoder = new TextDecoder('utf-8', { fatal: true });

export class VsCodeToolHost implements ToolHost {
  constructor(readonly root: string) {}

  async readText(path: string): Promise<string> {
    const open = this.document(path);
    if (open !== undefined) return open.getText();
    let bytes: Uint8Array;
    try {
      bytes = await vscode.workspace.fs.readFile(vscode.Uri.file(path));
    } catch (error) {
      throw new ToolError(`cannot read ${this.relative(path)}: ${describe(error)}`);
    }
    try {
      return decoder.decode(bytes);
    } catch {
      throw new ToolError(`${this.relative(path)} is not a UTF-8 text file`);
    }
  }

  async stat(path: string): Promise<FileKind | undefined> {
    try {
      const stat = await vscode.workspace.fs.stat(vscode.Uri.file(path));
      return stat.type & vscode.FileType.Directory ? 'directory' : 'file';
    } catch {
      return undefined;
    }
  }

  async readDirectory(path: string): Promise<DirectoryEntry[]> {
    const entries = await vscode.workspace.fs.readDirectory(vscode.Uri.file(path));
    return entries.map(([name, type]) => ({
      name,
      kind: type & vscode.FileType.Directory ? 'directory' : 'file',
      link: (type & vscode.FileType.SymbolicLink) !== 0,
    }));
  }

  async writeText(path: string, content: string): Promise<void> {
    const uri = vscode.Uri.file(path);
    const edit = new vscode.WorkspaceEdit();
    if ((await this.stat(path)) === undefined) {
      await vscode.workspace.fs.createDirectory(vscode.Uri.file(nodePath.dirname(path)));
      edit.createFile(uri, { ignoreIfExists: true });
      edit.insert(uri, new vscode.Position(0, 0), content);
    } else {
      const document = await vscode.workspace.openTextDocument(uri);
      edit.replace(
        uri,
        new vscode.Range(document.positionAt(0), document.positionAt(document.getText().length)),
        content,
      );
    }
    await this.apply(edit, path);
  }

  async replaceText(path: string, start: number, end: number, text: string): Promise<void> {
    const uri = vscode.Uri.file(path);
    const document = await vscode.workspace.openTextDocument(uri);
    const edit = new vscode.WorkspaceEdit();
    edit.replace(uri, new vscode.Range(document.positionAt(start), document.positionAt(end)), text);
    await this.apply(edit, path);
  }

  async createDirectory(path: string): Promise<void> {
    await vscode.workspace.fs.createDirectory(vscode.Uri.file(path));
  }

  runCommand(command: string, cwd: string, timeoutSeconds: number, signal?: AbortSignal): Promise<CommandOutput> {
    return runCommand(command, cwd, timeoutSeconds, signal);
  }

  realPath(path: string): Promise<string> {
    return fs.realpath(path);
  }

  private async apply(edit: vscode.WorkspaceEdit, path: string): Promise<void> {
    if (!(await vscode.workspace.applyEdit(edit))) {
      throw new ToolError(`VS Code did not apply the edit to ${this.relative(path)}`);
    }
    const document = await vscode.workspace.openTextDocument(vscode.Uri.file(path));
    if (document.isDirty && !(await document.save())) {
      throw new ToolError(`the edit of ${this.relative(path)} was applied but could not be saved`);
    }
  }

  private document(path: string): vscode.TextDocument | undefined {
    return vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'file' && samePath(d.uri.fsPath, path));
  }

  private relative(path: string): string {
    return nodePath.relative(this.root, path) || path;
  }
}

function samePath(a: string, b: string): boolean {
  return process.platform === 'win32' || process.platform === 'darwin' ? a.toLowerCase() === b.toLowerCase() : a === b;
}

function describe(error: unknown): string {
  if (error instanceof vscode.FileSystemError) return error.code === 'FileNotFound' ? 'no such file' : error.message;
  return error instanceof Error ? error.message : String(error);
}

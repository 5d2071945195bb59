/** The active editor's selection, or its whole file, quoted as context for the chat. */
import * as vscode from 'vscode';
import { contextBlock } from '../core/context';

/** `undefined` without an editor. An empty selection sends the whole file. */
export function quoteEditor(editor: vscode.TextEditor | undefined, what: 'selection' | 'file'): string | undefined {
  if (editor === undefined) return undefined;
  const { document, selection } = editor;
  const path = vscode.workspace.asRelativePath(document.uri, false);
  if (what === 'file' || selection.isEmpty) {
    return contextBlock({ path, languageId: document.languageId, text: document.getText() });
  }
  // A selection that ends at the start of a line does not take that line.
  const last = selection.end.character === 0 && selection.end.line > selection.start.line ? 0 : 1;
  return contextBlock({
    path,
    languageId: document.languageId,
    text: document.getText(selection),
    lines: { start: selection.start.line + 1, end: selection.end.line + last },
  });
}

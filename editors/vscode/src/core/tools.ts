/**
 * The client tools (read_file, list_files, search_in_code, write_file, edit_file,
 * create_directory, execute_command), executed in the workspace through a `ToolHost`.
 *
 * This module holds what the tools mean: argument checks, line ranges, listings, search,
 * the unique-match rule of edit_file, the command's deadline, and the text sent back.
 * Paths go through the host's WorkspaceBoundary (./boundary.ts): resolved through
 * symbolic links and refused outside the workspace; walks skip links that lead out and
 * special files. The host holds how the editor touches files (open documents, undoable
 * edits, atomic writes) and runs commands.
 */
import * as nodePath from 'node:path';
import type {
  CreateDirectoryArgs,
  EditFileArgs,
  ExecuteCommandArgs,
  ListFilesArgs,
  ReadFileArgs,
  SearchInCodeArgs,
  WriteFileArgs,
} from '../protocol';
import type { WorkspaceBoundary } from './boundary';
import type { CommandOutput } from './command';
import { ToolError } from './errors';

export { ToolError };

/** `other`: a FIFO, socket or device, or a broken link. */
export type FileKind = 'file' | 'directory' | 'other';

export interface DirectoryEntry {
  name: string;
  kind: FileKind;
  /** A symbolic link: listed when it stays inside the workspace, never descended into. */
  link: boolean;
}

/** How the editor reads, writes and runs things. Paths are absolute and already resolved by `boundary`. */
export interface ToolHost {
  readonly root: string;
  readonly boundary: WorkspaceBoundary;
  /** The text the user sees: an open document's (unsaved) text, else the file's. */
  readText(path: string): Promise<string>;
  stat(path: string): Promise<FileKind | undefined>;
  readDirectory(path: string): Promise<DirectoryEntry[]>;
  /** Create or replace a file's whole content, creating missing parent directories. */
  writeText(path: string, content: string): Promise<void>;
  /** Replace the characters [start, end) of an existing file's text. */
  replaceText(path: string, start: number, end: number, text: string): Promise<void>;
  createDirectory(path: string): Promise<void>;
  runCommand(command: string, cwd: string, timeoutSeconds: number, signal?: AbortSignal): Promise<CommandOutput>;
}

export interface ToolOutcome {
  status: 'success' | 'error';
  content: string;
}

/** What a write would change, for the diff shown while the user decides. */
export interface Proposal {
  /** Absolute path of the file. */
  path: string;
  /** Relative to the workspace, as the call named it. */
  label: string;
  /** Current text, or undefined for a file that does not exist yet. */
  before: string | undefined;
  after: string;
}

export const SKIP_DIRS = new Set([
  '.git',
  'node_modules',
  '__pycache__',
  '.venv',
  'venv',
  '.mypy_cache',
  '.pytest_cache',
  '.ruff_cache',
]);
export const MAX_ENTRIES = 500;
export const MAX_MATCHES = 200;
/** A result over this many characters is cut, with a note saying so (the sidecar refuses oversized results). */
export const MAX_RESULT = 512 * 1024;
const MAX_SEARCHED_FILE = 1024 * 1024;
const DEFAULT_TIMEOUT_SECONDS = 120;

type Args = Record<string, unknown>;
type Handler = (args: Args, signal?: AbortSignal) => Promise<string>;

export class ToolExecutor {
  private readonly handlers: Readonly<Record<string, Handler>> = {
    read_file: (a) => this.readFile(checked<ReadFileArgs>(a, { path: 'path', start_line: 'int?', end_line: 'int?' })),
    list_files: (a) => this.listFiles(checked<ListFilesArgs>(a, { path: 'path?', recursive: 'boolean?' })),
    search_in_code: (a) =>
      this.searchInCode(checked<SearchInCodeArgs>(a, { query: 'string', path: 'path?', is_regex: 'boolean?' })),
    write_file: (a) => this.writeFile(checked<WriteFileArgs>(a, { path: 'path', content: 'text' })),
    edit_file: (a) => this.editFile(checked<EditFileArgs>(a, { path: 'path', old_text: 'string', new_text: 'text' })),
    create_directory: (a) => this.createDirectory(checked<CreateDirectoryArgs>(a, { path: 'path' })),
    execute_command: (a, signal) =>
      this.executeCommand(
        checked<ExecuteCommandArgs>(a, { command: 'command', cwd: 'path?', timeout_seconds: 'int?' }),
        signal,
      ),
  };

  constructor(private readonly host: ToolHost) {}

  get root(): string {
    return this.host.root;
  }

  /** Run one call. Failures are outcomes (`error` with the message), never exceptions. */
  async execute(name: string, args: Args, signal?: AbortSignal): Promise<ToolOutcome> {
    const handler = Object.hasOwn(this.handlers, name) ? this.handlers[name] : undefined;
    if (handler === undefined) return { status: 'error', content: `unknown tool ${String(name)}` };
    try {
      return { status: 'success', content: capped(await handler(args, signal)) };
    } catch (error) {
      return { status: 'error', content: error instanceof Error ? error.message : String(error) };
    }
  }

  /** The change a write_file or edit_file call would make; undefined for other tools or when it cannot apply. */
  async propose(name: string, args: Args): Promise<Proposal | undefined> {
    try {
      if (name === 'write_file') {
        const { path, content } = checked<WriteFileArgs>(args, { path: 'path', content: 'text' });
        const full = await this.resolve(path);
        const before = (await this.host.stat(full)) === 'file' ? await this.host.readText(full) : undefined;
        return { path: full, label: this.label(full), before, after: content };
      }
      if (name === 'edit_file') {
        const a = checked<EditFileArgs>(args, { path: 'path', old_text: 'string', new_text: 'text' });
        const full = await this.resolve(a.path);
        const before = await this.host.readText(full);
        const at = uniqueIndex(before, a.old_text, a.path);
        const after = before.slice(0, at) + a.new_text + before.slice(at + a.old_text.length);
        return { path: full, label: this.label(full), before, after };
      }
    } catch {
      // The call will fail the same way when executed; that error is what the model gets.
    }
    return undefined;
  }

  /** An absolute path inside the workspace, or a ToolError. `~` is the home directory. */
  resolve(raw: string): Promise<string> {
    return this.host.boundary.resolve(raw);
  }

  private label(full: string): string {
    return nodePath.relative(this.host.root, full).split(nodePath.sep).join('/') || '.';
  }

  // --- the tools -------------------------------------------------------------------

  private async readFile(a: ReadFileArgs): Promise<string> {
    const text = await this.host.readText(await this.resolve(a.path));
    if (a.start_line == null && a.end_line == null) return text;
    const lines = splitLines(text);
    return lines.slice((a.start_line ?? 1) - 1, a.end_line ?? lines.length).join('');
  }

  private async listFiles(a: ListFilesArgs): Promise<string> {
    const raw = a.path ?? '.';
    const base = await this.resolve(raw);
    if ((await this.host.stat(base)) !== 'directory') throw new ToolError(`${raw} is not a directory`);
    const entries: string[] = [];
    for await (const entry of this.walk(base, a.recursive ?? false)) {
      entries.push(entry.kind === 'directory' ? `${this.label(entry.path)}/` : this.label(entry.path));
      if (entries.length >= MAX_ENTRIES) {
        entries.push(`… (more than ${MAX_ENTRIES} entries)`);
        break;
      }
    }
    return entries.length > 0 ? entries.join('\n') : '(empty directory)';
  }

  private async searchInCode(a: SearchInCodeArgs): Promise<string> {
    let pattern: RegExp;
    try {
      pattern = new RegExp(a.is_regex ? a.query : escapeRegExp(a.query));
    } catch (error) {
      throw new ToolError(`invalid regular expression: ${error instanceof Error ? error.message : String(error)}`);
    }
    const raw = a.path ?? '.';
    const base = await this.resolve(raw);
    const kind = await this.host.stat(base);
    if (kind === undefined) throw new ToolError(`${raw} does not exist`);
    if (kind === 'other') throw new ToolError(`${raw} is not a regular file or a directory`);
    const files: string[] = [];
    if (kind === 'file') files.push(base);
    else for await (const entry of this.walk(base, true)) if (entry.kind === 'file') files.push(entry.path);
    const matches: string[] = [];
    for (const file of files) {
      let text: string;
      try {
        text = await this.host.readText(file);
      } catch {
        continue; // binary or unreadable
      }
      if (text.length > MAX_SEARCHED_FILE) continue;
      const lines = text.split(/\r?\n/);
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i] ?? '';
        if (!pattern.test(line)) continue;
        matches.push(`${this.label(file)}:${i + 1}: ${line.trim()}`);
        if (matches.length >= MAX_MATCHES) return [...matches, `… (more than ${MAX_MATCHES} matches)`].join('\n');
      }
    }
    return matches.length > 0 ? matches.join('\n') : 'no matches';
  }

  private async writeFile(a: WriteFileArgs): Promise<string> {
    const full = await this.resolve(a.path);
    if ((await this.host.stat(full)) === 'directory') throw new ToolError(`${a.path} is a directory`);
    await this.host.writeText(full, a.content);
    return `wrote ${Buffer.byteLength(a.content, 'utf8')} bytes to ${a.path}`;
  }

  private async editFile(a: EditFileArgs): Promise<string> {
    const full = await this.resolve(a.path);
    const text = await this.host.readText(full);
    const at = uniqueIndex(text, a.old_text, a.path);
    await this.host.replaceText(full, at, at + a.old_text.length, a.new_text);
    return `edited ${a.path}`;
  }

  private async createDirectory(a: CreateDirectoryArgs): Promise<string> {
    const full = await this.resolve(a.path);
    if ((await this.host.stat(full)) === 'file') throw new ToolError(`${a.path} is a file`);
    await this.host.createDirectory(full);
    return `created ${a.path}`;
  }

  private async executeCommand(a: ExecuteCommandArgs, signal?: AbortSignal): Promise<string> {
    const cwd = await this.resolve(a.cwd ?? '.');
    if ((await this.host.stat(cwd)) !== 'directory') throw new ToolError(`${a.cwd ?? '.'} is not a directory`);
    const timeout = a.timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS;
    const done = await this.host.runCommand(a.command, cwd, timeout, signal);
    const tail = done.output ? `\n${done.output}` : '';
    if (done.timedOut) throw new ToolError(`the command timed out after ${timeout}s${tail}`);
    if (done.aborted) throw new ToolError(`the command was cancelled${tail}`);
    return `exit code ${done.exitCode ?? 'none (killed by a signal)'}${tail || '\n'}`;
  }

  /**
   * Entries under `base` in path order. Skipped: SKIP_DIRS, special files and broken links,
   * and any link or directory whose real path leaves the workspace (a directory too: it may
   * have been swapped for a link since it was listed). Links are never descended into.
   */
  private async *walk(base: string, recursive: boolean): AsyncGenerator<{ path: string; kind: FileKind }> {
    const entries = (await this.host.readDirectory(base)).sort((x, y) => compare(x.name, y.name));
    for (const entry of entries) {
      if (SKIP_DIRS.has(entry.name) || entry.kind === 'other') continue;
      const path = nodePath.join(base, entry.name);
      if ((entry.link || entry.kind === 'directory') && !(await this.host.boundary.contains(path))) continue;
      yield { path, kind: entry.kind };
      if (recursive && entry.kind === 'directory' && !entry.link) yield* this.walk(path, true);
    }
  }
}

// --- helpers -------------------------------------------------------------------------

type Expected = 'string' | 'path' | 'path?' | 'command' | 'text' | 'int?' | 'boolean?';

/**
 * The model's arguments checked against what the tool needs. The sidecar validated
 * them against the same schema; this guards the editor against a newer or older one.
 * `string` must be non-empty; `path` and `command` too, and without a NUL byte (the OS
 * takes none); `text` may be empty.
 */
function checked<T>(args: Args, spec: Record<string, Expected>): T {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    throw new ToolError('arguments: expected an object');
  }
  for (const [name, expected] of Object.entries(spec)) {
    const value = args[name];
    const optional = expected.endsWith('?');
    if (value === undefined || value === null) {
      if (optional) continue;
      throw new ToolError(`${name}: required`);
    }
    const kind = expected.replace('?', '');
    const type = kind === 'int' ? 'an integer' : kind === 'boolean' ? 'boolean' : 'string';
    const ok = kind === 'int' ? Number.isInteger(value) : typeof value === type;
    if (!ok) throw new ToolError(`${name}: expected ${type}`);
    if (kind === 'text' || typeof value !== 'string') continue;
    if (value.length === 0) throw new ToolError(`${name}: must not be empty`);
    if (kind !== 'string' && value.includes('\0')) throw new ToolError(`${name}: must not contain a NUL byte`);
  }
  return args as T;
}

function uniqueIndex(text: string, needle: string, path: string): number {
  const first = text.indexOf(needle);
  let count = 0;
  for (let at = first; at !== -1; at = text.indexOf(needle, at + needle.length)) count++;
  if (count !== 1) throw new ToolError(`old_text occurs ${count} times in ${path}; it must occur exactly once`);
  return first;
}

/** Lines with their endings, as Python's `splitlines(keepends=True)` for \n and \r\n. */
function splitLines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function capped(content: string): string {
  if (content.length <= MAX_RESULT) return content;
  return `${content.slice(0, MAX_RESULT)}\n… (cut at ${MAX_RESULT} characters of ${content.length}; read a line range)`;
}

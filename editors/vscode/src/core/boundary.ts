/**
 * The workspace boundary, checked on the real file system. Every path the tools touch is
 * resolved through symbolic links (the path's real path, or its nearest existing
 * ancestor's) and refused when it lands outside the workspace folder's real path.
 *
 * A check followed by a use by path is a race: a link swapped in between carries the use
 * outside. So the uses that matter are made so that a swap cannot redirect them:
 *
 * - a read opens the checked real path without following a final link, then confirms
 *   that the file it opened is still the one inside (same device and inode);
 * - a write goes to a new temporary file in the checked directory, renamed onto the
 *   target: a rename replaces a link, it never writes through one;
 * - on Linux a checked directory is held open and its entries are named through
 *   /proc/self/fd, so swapping it or any parent after the check changes nothing (Node has
 *   no `openat`); elsewhere the temporary file is checked again before the rename.
 *
 * Special files (FIFOs, sockets, devices) are refused: reading a FIFO blocks.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fs, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import * as nodePath from 'node:path';
import { ToolError } from './errors';

// Not defined on Windows, where 0 leaves the flag out.
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;
const O_DIRECTORY = constants.O_DIRECTORY ?? 0;
/** The codes realpath and lstat give for a path that is not there. */
const MISSING = new Set(['ENOENT', 'ENOTDIR']);

/** A directory checked to be inside the workspace. */
interface CheckedDirectory {
  /** A path for the entry `name` of this directory (on Linux, one that a swap cannot redirect). */
  at(name: string): string;
  close(): Promise<void>;
}

export class WorkspaceBoundary {
  private realRootPromise: Promise<string> | undefined;
  private realRootValue: string | undefined;
  private procFd: Promise<boolean> | undefined;

  constructor(readonly root: string) {}

  /** An absolute path inside the workspace, or a ToolError. `~` is the home directory. */
  async resolve(raw: string): Promise<string> {
    if (typeof raw !== 'string' || raw.length === 0) throw new ToolError('path: expected a non-empty string');
    if (raw.includes('\0')) throw new ToolError('path: must not contain a NUL byte');
    const expanded = raw === '~' || raw.startsWith('~/') ? homedir() + raw.slice(1) : raw;
    const full = nodePath.resolve(this.root, expanded);
    if (!within(this.root, full) || !within(await this.realRoot(), await this.realOfNearest(full))) {
      throw this.outside(raw);
    }
    return full;
  }

  /** Whether `path` exists with its real path inside. Walks skip what does not. */
  async contains(path: string): Promise<boolean> {
    try {
      return within(await this.realRoot(), await fs.realpath(path));
    } catch {
      return false;
    }
  }

  /** The bytes of a regular file inside. Errors that are not ToolErrors are the file system's (ENOENT, EACCES). */
  async readFile(path: string): Promise<Buffer> {
    const shown = this.label(path);
    const real = await this.realInside(path, shown);
    refuseSpecial(shown, await fs.stat(real));
    let handle: FileHandle;
    try {
      handle = await fs.open(real, constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (error) {
      throw code(error) === 'ELOOP' ? changed(shown) : error;
    }
    try {
      const opened = await handle.stat();
      refuseSpecial(shown, opened);
      const now = await fs.stat(await this.realInside(path, shown));
      if (now.dev !== opened.dev || now.ino !== opened.ino) throw changed(shown);
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  /**
   * Create or replace the file at `path`: a temporary file in the checked directory,
   * renamed onto it. Missing directories are created. A link at `path` that leads to a
   * file inside is written through (the link stays); one that leads out is refused.
   */
  writeFile(path: string, content: string): Promise<void> {
    return this.replace(path, content, this.label(path), false);
  }

  /** `mkdir -p` inside the workspace: each missing directory is made in its checked parent. */
  async makeDirectories(path: string, shown = this.label(path)): Promise<void> {
    const missing: string[] = [];
    let existing = path;
    while ((await lstat(existing)) === undefined) {
      const parent = nodePath.dirname(existing);
      if (parent === existing) break;
      missing.unshift(nodePath.basename(existing));
      existing = parent;
    }
    let dir = await this.openDirectory(existing, shown);
    try {
      for (const name of missing) {
        await fs.mkdir(dir.at(name)).catch((error: unknown) => {
          if (code(error) !== 'EEXIST') throw error; // made meanwhile: opening it checks what it is
        });
        const next = await this.openDirectory(dir.at(name), shown);
        await dir.close();
        dir = next;
      }
    } finally {
      await dir.close();
    }
  }

  /**
   * For a write the editor makes itself (VS Code saving a document), right before it: the
   * parent's real path is inside, and the target, if there, is a regular file whose real
   * path is inside. The editor opens the path afterwards, following links: a link swapped
   * in after this check is beyond what its API lets an extension prevent.
   */
  async checkWriteTarget(path: string): Promise<void> {
    const shown = this.label(path);
    await this.realInside(nodePath.dirname(path), shown);
    if ((await lstat(path)) !== undefined) refuseSpecial(shown, await fs.stat(await this.realInside(path, shown)));
  }

  // --- internals ---------------------------------------------------------------------

  private async replace(path: string, content: string, shown: string, followed: boolean): Promise<void> {
    const parent = nodePath.dirname(path);
    await this.makeDirectories(parent, shown);
    const dir = await this.openDirectory(parent, shown);
    try {
      const name = nodePath.basename(path);
      const existing = await lstat(dir.at(name));
      if (existing?.isSymbolicLink()) {
        if (followed) throw changed(shown);
        return await this.replace(await this.realInside(dir.at(name), shown), content, shown, true);
      }
      if (existing !== undefined) refuseSpecial(shown, existing);
      const mode = existing === undefined ? 0o666 : existing.mode & 0o7777;
      const temp = dir.at(`.codelab-${randomBytes(8).toString('hex')}.tmp`);
      const handle = await fs.open(temp, 'wx', mode); // O_CREAT|O_EXCL: never through a link, never over a file
      try {
        try {
          await handle.writeFile(content);
          if (existing !== undefined) await handle.chmod(mode); // the mode open() left after the umask
        } finally {
          await handle.close();
        }
        await this.realInside(temp, shown); // without /proc/self/fd: the directory was not swapped meanwhile
        await fs.rename(temp, dir.at(name));
      } catch (error) {
        await fs.rm(temp, { force: true }).catch(() => undefined); // the first failure is the one to report
        throw error;
      }
    } finally {
      await dir.close();
    }
  }

  private async openDirectory(path: string, shown: string): Promise<CheckedDirectory> {
    const real = await this.realInside(path, shown);
    if (!(await fs.stat(real)).isDirectory()) throw new ToolError(`${shown}: ${this.label(real)} is not a directory`);
    if (!(await this.hasProcFd())) return { at: (name) => nodePath.join(real, name), close: async () => undefined };
    let handle: FileHandle;
    try {
      handle = await fs.open(real, constants.O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (error) {
      throw MISSING.has(code(error)) || code(error) === 'ELOOP' ? changed(shown) : error;
    }
    const fd = `/proc/self/fd/${handle.fd}`;
    try {
      if (!within(await this.realRoot(), await fs.readlink(fd))) throw this.outside(shown);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return { at: (name) => `${fd}/${name}`, close: () => handle.close() };
  }

  /** The real path of the existing `path`, refused unless inside. */
  private async realInside(path: string, shown: string): Promise<string> {
    let real: string;
    try {
      real = await fs.realpath(path);
    } catch (error) {
      if (MISSING.has(code(error)) && (await lstat(path)) !== undefined) throw brokenLink(shown);
      throw error;
    }
    if (!within(await this.realRoot(), real)) throw this.outside(shown);
    return real;
  }

  /** The real path of `full`'s nearest existing ancestor, with the rest appended. */
  private async realOfNearest(full: string): Promise<string> {
    const rest: string[] = [];
    for (let existing = full; ;) {
      try {
        return nodePath.join(await fs.realpath(existing), ...rest);
      } catch (error) {
        if (!MISSING.has(code(error))) throw new ToolError(`${this.label(full)}: ${describe(error)}`);
        if ((await lstat(existing)) !== undefined) throw brokenLink(this.label(existing));
        const parent = nodePath.dirname(existing);
        if (parent === existing) return full;
        rest.unshift(nodePath.basename(existing));
        existing = parent;
      }
    }
  }

  private realRoot(): Promise<string> {
    this.realRootPromise ??= fs.realpath(this.root).then((real) => (this.realRootValue = real));
    return this.realRootPromise;
  }

  private hasProcFd(): Promise<boolean> {
    this.procFd ??=
      process.platform === 'linux'
        ? fs.access('/proc/self/fd').then(
            () => true,
            () => false,
          )
        : Promise.resolve(false);
    return this.procFd;
  }

  private outside(shown: string): ToolError {
    return new ToolError(`${shown} is outside the workspace ${this.root}`);
  }

  /** `path` relative to the workspace (or to its real path), for messages. */
  private label(path: string): string {
    for (const base of [this.root, this.realRootValue]) {
      if (base !== undefined && within(base, path)) {
        return nodePath.relative(base, path).split(nodePath.sep).join('/') || '.';
      }
    }
    return path;
  }
}

/** Whether `path` is `root` or below it (both absolute, already resolved as far as wanted). */
export function within(root: string, path: string): boolean {
  const rel = nodePath.relative(root, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${nodePath.sep}`) && !nodePath.isAbsolute(rel));
}

/** The node error code, or '' for anything else. */
export function code(error: unknown): string {
  const value = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof value === 'string' ? value : '';
}

/** A file system error in a few words. */
export function describe(error: unknown): string {
  const words: Record<string, string> = {
    ENOENT: 'no such file',
    ENOTDIR: 'not a directory',
    EISDIR: 'is a directory',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    ELOOP: 'too many levels of symbolic links',
    ENAMETOOLONG: 'name too long',
    ENOSPC: 'no space left on the device',
    EROFS: 'read-only file system',
  };
  return words[code(error)] ?? (error instanceof Error ? error.message : String(error));
}

async function lstat(path: string): Promise<Stats | undefined> {
  try {
    return await fs.lstat(path);
  } catch (error) {
    if (MISSING.has(code(error))) return undefined;
    throw error;
  }
}

function refuseSpecial(shown: string, stats: Stats): void {
  if (stats.isDirectory()) throw new ToolError(`${shown} is a directory`);
  if (!stats.isFile()) throw new ToolError(`${shown} is not a regular file (a FIFO, socket or device)`);
}

function brokenLink(shown: string): ToolError {
  return new ToolError(`${shown} is a broken symbolic link`);
}

function changed(shown: string): ToolError {
  return new ToolError(`${shown} changed while it was being used (a symbolic link was swapped in); try again`);
}

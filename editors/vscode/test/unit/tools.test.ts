import '../stubs/register';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ToolExecutor } from '../../src/core/tools';
import { VsCodeToolHost } from '../../src/editor/host';
import * as vscode from '../stubs/vscode';

let root: string;
let tools: ToolExecutor;

async function write(relative: string, text: string): Promise<string> {
  const full = path.join(root, relative);
  await fs.mkdir(path.dirname(full), { recursive: true });
  await fs.writeFile(full, text);
  return full;
}

const read = (relative: string): Promise<string> => fs.readFile(path.join(root, relative), 'utf8');

beforeEach(async () => {
  vscode.reset();
  root = await fs.realpath(await fs.mkdtemp(path.join(tmpdir(), 'codelab-tools-')));
  tools = new ToolExecutor(new VsCodeToolHost(root));
});

afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('read_file', () => {
  it('reads the file, or a range of its lines', async () => {
    await write('a.py', 'one\ntwo\nthree\n');
    assert.deepEqual(await tools.execute('read_file', { path: 'a.py' }), {
      status: 'success',
      content: 'one\ntwo\nthree\n',
    });
    const range = await tools.execute('read_file', { path: 'a.py', start_line: 2, end_line: 3 });
    assert.equal(range.content, 'two\nthree\n');
    assert.equal((await tools.execute('read_file', { path: 'a.py', start_line: 3 })).content, 'three\n');
  });

  it("reads an open document's unsaved text", async () => {
    const full = await write('a.py', 'on disk\n');
    vscode.openUnsaved(full, 'in the editor\n');
    assert.equal((await tools.execute('read_file', { path: 'a.py' })).content, 'in the editor\n');
  });

  it('says when the file is missing or not text', async () => {
    const missing = await tools.execute('read_file', { path: 'nope.py' });
    assert.equal(missing.status, 'error');
    assert.match(missing.content, /cannot read nope\.py: no such file/);
    await fs.writeFile(path.join(root, 'blob.bin'), Buffer.from([0xff, 0xfe, 0x00, 0xc3]));
    assert.match((await tools.execute('read_file', { path: 'blob.bin' })).content, /not a UTF-8 text file/);
  });
});

describe('write_file', () => {
  it('writes a file no editor has open on disk, by a rename, creating its directories', async () => {
    const result = await tools.execute('write_file', { path: 'pkg/sub/new.py', content: 'print("hi")\n' });
    assert.deepEqual(result, { status: 'success', content: 'wrote 12 bytes to pkg/sub/new.py' });
    assert.equal(await read('pkg/sub/new.py'), 'print("hi")\n');
    assert.equal(vscode.state.appliedEdits.length, 0, 'no editor has it open: no WorkspaceEdit');
    await tools.execute('write_file', { path: 'pkg/sub/new.py', content: 'print("again")\n' });
    assert.equal(await read('pkg/sub/new.py'), 'print("again")\n');
    assert.deepEqual(await fs.readdir(path.join(root, 'pkg/sub')), ['new.py'], 'no temporary file left');
  });

  it('keeps the mode of the file it replaces', async () => {
    const full = await write('run.sh', 'echo old\n');
    await fs.chmod(full, 0o750);
    await tools.execute('write_file', { path: 'run.sh', content: 'echo new\n' });
    assert.equal((await fs.stat(full)).mode & 0o777, 0o750);
  });

  it('replaces the text of a document open with unsaved changes by an undoable edit, then saves it', async () => {
    const full = await write('a.txt', 'old\n');
    const document = vscode.openUnsaved(full, 'old and unsaved\n');
    await tools.execute('write_file', { path: 'a.txt', content: 'new\n' });
    assert.equal(await read('a.txt'), 'new\n');
    assert.deepEqual(
      vscode.state.appliedEdits[0]?.operations.map((o) => o.op),
      ['replace'],
    );
    assert.equal(document.isDirty, false);
  });

  it('writes an empty file', async () => {
    assert.equal((await tools.execute('write_file', { path: 'empty.txt', content: '' })).status, 'success');
    assert.equal(await read('empty.txt'), '');
  });

  it('refuses a directory', async () => {
    await fs.mkdir(path.join(root, 'dir'));
    assert.match((await tools.execute('write_file', { path: 'dir', content: 'x' })).content, /dir is a directory/);
  });
});

describe('edit_file', () => {
  it('replaces the one occurrence in a file no editor has open', async () => {
    await write('a.py', 'def f():\n    return 1\n');
    const result = await tools.execute('edit_file', { path: 'a.py', old_text: 'return 1', new_text: 'return 2' });
    assert.deepEqual(result, { status: 'success', content: 'edited a.py' });
    assert.equal(await read('a.py'), 'def f():\n    return 2\n');
    assert.equal(vscode.state.appliedEdits.length, 0);
  });

  it('edits an open document with a range edit, then saves it', async () => {
    const full = await write('a.py', 'def f():\n    return 1\n');
    const document = await vscode.workspace.openTextDocument(vscode.Uri.file(full));
    await tools.execute('edit_file', { path: 'a.py', old_text: 'return 1', new_text: 'return 2' });
    assert.equal(await read('a.py'), 'def f():\n    return 2\n');
    const operation = vscode.state.appliedEdits[0]?.operations[0];
    assert.ok(operation?.op === 'replace');
    assert.deepEqual(operation.range.start, new vscode.Position(1, 4));
    assert.equal(document.saves, 1);
  });

  it('edits the unsaved text of an open document', async () => {
    const full = await write('a.py', 'x = 1\n');
    vscode.openUnsaved(full, 'x = 1\ny = 2\n');
    await tools.execute('edit_file', { path: 'a.py', old_text: 'y = 2', new_text: 'y = 3' });
    assert.equal(await read('a.py'), 'x = 1\ny = 3\n');
  });

  it('refuses text that occurs zero times or more than once', async () => {
    await write('a.py', 'x\nx\n');
    const twice = await tools.execute('edit_file', { path: 'a.py', old_text: 'x', new_text: 'y' });
    assert.deepEqual(twice, {
      status: 'error',
      content: 'old_text occurs 2 times in a.py; it must occur exactly once',
    });
    const never = await tools.execute('edit_file', { path: 'a.py', old_text: 'z', new_text: 'y' });
    assert.match(never.content, /occurs 0 times/);
    assert.equal(vscode.state.appliedEdits.length, 0);
  });
});

describe('create_directory and list_files', () => {
  it('creates nested directories', async () => {
    assert.deepEqual(await tools.execute('create_directory', { path: 'a/b/c' }), {
      status: 'success',
      content: 'created a/b/c',
    });
    assert.ok((await fs.stat(path.join(root, 'a/b/c'))).isDirectory());
  });

  it('lists a directory, recursively on request, skipping tool directories', async () => {
    await write('b.py', '');
    await write('a/x.py', '');
    await write('node_modules/m/index.js', '');
    await write('.git/HEAD', '');
    assert.equal((await tools.execute('list_files', { path: '.' })).content, 'a/\nb.py');
    assert.equal((await tools.execute('list_files', { path: '.', recursive: true })).content, 'a/\na/x.py\nb.py');
    assert.equal((await tools.execute('list_files', { path: 'a' })).content, 'a/x.py');
    assert.equal((await tools.execute('list_files', {})).content, 'a/\nb.py');
  });

  it('says when the directory is empty or is not one', async () => {
    await fs.mkdir(path.join(root, 'empty'));
    await write('f.txt', '');
    assert.equal((await tools.execute('list_files', { path: 'empty' })).content, '(empty directory)');
    assert.deepEqual(await tools.execute('list_files', { path: 'f.txt' }), {
      status: 'error',
      content: 'f.txt is not a directory',
    });
  });
});

describe('search_in_code', () => {
  beforeEach(async () => {
    await write('src/a.py', 'import os\nvalue = os.getcwd()\n');
    await write('src/b.py', 'print("a.b")\n');
    await write('node_modules/x.js', 'import os\n');
  });

  it('finds text, literally by default', async () => {
    assert.equal((await tools.execute('search_in_code', { query: 'import os' })).content, 'src/a.py:1: import os');
    assert.equal((await tools.execute('search_in_code', { query: 'a.b' })).content, 'src/b.py:1: print("a.b")');
  });

  it('finds a regular expression, in a directory or a file', async () => {
    const found = await tools.execute('search_in_code', { query: 'os\\.\\w+\\(', is_regex: true, path: 'src' });
    assert.equal(found.content, 'src/a.py:2: value = os.getcwd()');
    const inFile = await tools.execute('search_in_code', { query: 'print', path: 'src/b.py' });
    assert.equal(inFile.content, 'src/b.py:1: print("a.b")');
    assert.equal((await tools.execute('search_in_code', { query: 'absent' })).content, 'no matches');
  });

  it('reports a bad regular expression', async () => {
    const bad = await tools.execute('search_in_code', { query: '(', is_regex: true });
    assert.equal(bad.status, 'error');
    assert.match(bad.content, /invalid regular expression/);
  });
});

describe('the workspace boundary', () => {
  it('refuses paths outside the workspace', async () => {
    for (const outside of ['../x.txt', '/etc/passwd', 'a/../../x', '~/x']) {
      const result = await tools.execute('read_file', { path: outside });
      assert.equal(result.status, 'error', outside);
      assert.match(result.content, /is outside the workspace/, outside);
    }
    const write = await tools.execute('write_file', { path: '../escape.txt', content: 'x' });
    assert.match(write.content, /outside the workspace/);
    await assert.rejects(fs.stat(path.join(root, '..', 'escape.txt')));
  });

  it('refuses a symbolic link that leads outside', async () => {
    const elsewhere = await fs.mkdtemp(path.join(tmpdir(), 'codelab-elsewhere-'));
    try {
      await fs.symlink(elsewhere, path.join(root, 'link'));
      const result = await tools.execute('write_file', { path: 'link/x.txt', content: 'x' });
      assert.match(result.content, /outside the workspace/);
      await assert.rejects(fs.stat(path.join(elsewhere, 'x.txt')));
    } finally {
      await fs.rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('accepts absolute paths inside the workspace', async () => {
    await write('in.txt', 'inside');
    assert.equal((await tools.execute('read_file', { path: path.join(root, 'in.txt') })).content, 'inside');
  });
});

describe('symbolic links out of the workspace, special files, odd paths', () => {
  const SECRET = 'API_KEY=sk-outside\n';
  let outside: string;

  beforeEach(async () => {
    outside = await fs.realpath(await fs.mkdtemp(path.join(tmpdir(), 'codelab-outside-')));
    await fs.writeFile(path.join(outside, 'secret.txt'), SECRET);
    await write('src/a.py', 'API_KEY = os.environ["API_KEY"]\n');
    await fs.symlink(path.join(outside, 'secret.txt'), path.join(root, 'leak.txt'));
    await fs.symlink(outside, path.join(root, 'leakdir'));
    await fs.symlink(path.join(outside, 'missing.txt'), path.join(root, 'dangling.txt'));
    await fs.symlink(path.join(root, 'src', 'a.py'), path.join(root, 'inner.py'));
  });

  afterEach(async () => {
    await fs.rm(outside, { recursive: true, force: true });
  });

  const secretUnchanged = async (): Promise<void> => {
    assert.equal(await fs.readFile(path.join(outside, 'secret.txt'), 'utf8'), SECRET);
    assert.deepEqual(await fs.readdir(outside), ['secret.txt']);
  };

  it('list_files and search_in_code skip links that lead outside, and keep those that stay inside', async () => {
    assert.equal((await tools.execute('list_files', {})).content, 'inner.py\nsrc/');
    assert.equal((await tools.execute('list_files', { recursive: true })).content, 'inner.py\nsrc/\nsrc/a.py');
    const found = await tools.execute('search_in_code', { query: 'API_KEY' });
    assert.deepEqual(found, {
      status: 'success',
      content: 'inner.py:1: API_KEY = os.environ["API_KEY"]\nsrc/a.py:1: API_KEY = os.environ["API_KEY"]',
    });
    assert.doesNotMatch((await tools.execute('search_in_code', { query: 'sk-outside' })).content, /sk-outside/);
  });

  it('refuses to read, list or search through a link that leads outside', async () => {
    const calls: Array<[string, Record<string, unknown>]> = [
      ['read_file', { path: 'leak.txt' }],
      ['read_file', { path: 'leakdir/secret.txt' }],
      ['list_files', { path: 'leakdir' }],
      ['search_in_code', { query: 'API', path: 'leak.txt' }],
      ['search_in_code', { query: 'API', path: 'leakdir' }],
      ['execute_command', { command: 'cat secret.txt', cwd: 'leakdir' }],
    ];
    for (const [name, args] of calls) {
      const result = await tools.execute(name, args);
      assert.equal(result.status, 'error', `${name} ${JSON.stringify(args)}`);
      assert.match(result.content, /is outside the workspace/);
      assert.doesNotMatch(result.content, /sk-outside/);
    }
    assert.match((await tools.execute('read_file', { path: 'dangling.txt' })).content, /broken symbolic link/);
    assert.equal((await tools.execute('read_file', { path: 'inner.py' })).status, 'success');
  });

  it('refuses to write through a final link that leads outside; the outside file is unchanged', async () => {
    const calls: Array<[string, Record<string, unknown>]> = [
      ['write_file', { path: 'leak.txt', content: 'pwned\n' }],
      ['edit_file', { path: 'leak.txt', old_text: 'sk-outside', new_text: 'pwned' }],
      ['write_file', { path: 'leakdir/secret.txt', content: 'pwned\n' }],
      ['write_file', { path: 'leakdir/new.txt', content: 'pwned\n' }],
      ['write_file', { path: 'dangling.txt', content: 'pwned\n' }],
      ['create_directory', { path: 'leakdir/sub' }],
    ];
    for (const [name, args] of calls) {
      const result = await tools.execute(name, args);
      assert.equal(result.status, 'error', `${name} ${JSON.stringify(args)}`);
    }
    await secretUnchanged();
    assert.ok((await fs.lstat(path.join(root, 'leak.txt'))).isSymbolicLink(), 'the link is left alone');
  });

  it('writes through a link that stays inside, and the link stays', async () => {
    await tools.execute('write_file', { path: 'inner.py', content: 'x = 1\n' });
    assert.ok((await fs.lstat(path.join(root, 'inner.py'))).isSymbolicLink());
    assert.equal(await read('src/a.py'), 'x = 1\n');
  });

  it('the host checks on its own, right before it writes, also for an open document', async () => {
    // As if the link had been swapped in after the executor resolved the path.
    const host = new VsCodeToolHost(root);
    const link = path.join(root, 'leak.txt');
    await assert.rejects(host.writeText(link, 'pwned\n'), /leak\.txt is outside the workspace/);
    await assert.rejects(host.replaceText(link, 0, 3, 'pwned'), /leak\.txt is outside the workspace/);
    await assert.rejects(host.readText(link), /leak\.txt is outside the workspace/);
    await assert.rejects(host.createDirectory(path.join(root, 'leakdir', 'sub')), /is outside the workspace/);
    vscode.openUnsaved(link, 'unsaved\n');
    await assert.rejects(host.writeText(link, 'pwned\n'), /leak\.txt is outside the workspace/);
    assert.equal(vscode.state.appliedEdits.length, 0, 'refused before the edit');
    await secretUnchanged();
  });

  it('refuses special files and skips them in listings and searches', async () => {
    execFileSync('mkfifo', [path.join(root, 'pipe')]);
    const started = Date.now();
    assert.match((await tools.execute('read_file', { path: 'pipe' })).content, /pipe is not a regular file/);
    assert.match((await tools.execute('write_file', { path: 'pipe', content: 'x' })).content, /not a regular file/);
    assert.match((await tools.execute('search_in_code', { query: 'x', path: 'pipe' })).content, /not a regular file/);
    assert.equal((await tools.execute('list_files', {})).content, 'inner.py\nsrc/');
    assert.equal((await tools.execute('search_in_code', { query: 'environ' })).content.split('\n').length, 2);
    assert.ok(Date.now() - started < 5000, 'nothing blocked on the FIFO');
  });

  it('answers a NUL byte, an empty or a non-string path with an error result', async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['read_file', { path: 'a\0b' }, 'path: must not contain a NUL byte'],
      ['read_file', { path: '../../etc/passwd\0.txt' }, 'path: must not contain a NUL byte'],
      ['write_file', { path: 'x\0', content: 'x' }, 'path: must not contain a NUL byte'],
      ['edit_file', { path: '\0', old_text: 'a', new_text: 'b' }, 'path: must not contain a NUL byte'],
      ['list_files', { path: 'src\0' }, 'path: must not contain a NUL byte'],
      ['search_in_code', { query: 'a', path: '\0' }, 'path: must not contain a NUL byte'],
      ['create_directory', { path: 'd\0' }, 'path: must not contain a NUL byte'],
      ['execute_command', { command: 'ls', cwd: 'src\0' }, 'cwd: must not contain a NUL byte'],
      ['execute_command', { command: 'echo a\0b' }, 'command: must not contain a NUL byte'],
      ['read_file', { path: '' }, 'path: must not be empty'],
      ['list_files', { path: '' }, 'path: must not be empty'],
      ['read_file', { path: 42 }, 'path: expected string'],
      ['write_file', { path: ['a'], content: 'x' }, 'path: expected string'],
      ['search_in_code', { query: 'a', path: { x: 1 } }, 'path: expected string'],
    ];
    for (const [name, args, message] of cases) {
      assert.deepEqual(await tools.execute(name, args), { status: 'error', content: message }, name);
    }
    for (const args of [null, 'path', ['a']]) {
      assert.deepEqual(await tools.execute('read_file', args as never), {
        status: 'error',
        content: 'arguments: expected an object',
      });
    }
    assert.equal((await tools.execute('toString', {})).content, 'unknown tool toString');
    assert.equal(await tools.propose('write_file', { path: 'a\0', content: '' }), undefined);
    await assert.rejects(tools.resolve('a\0b'), /must not contain a NUL byte/);
  });

  /** Runs `work` while another process swaps `target` between a real file (or directory) and a link to `to`. */
  async function whileSwapping(target: string, to: string, kind: 'file' | 'directory', work: () => Promise<void>) {
    const swapper = spawn(process.execPath, ['-e', SWAPPER, target, to, kind], { stdio: 'ignore' });
    const exited = new Promise((resolve) => swapper.on('exit', resolve));
    try {
      await work();
    } finally {
      swapper.kill();
      await exited;
    }
  }

  it(
    'a link swapped in for the file while it is written never carries the write outside',
    { timeout: 30_000 },
    async () => {
      const outcomes = { success: 0, error: 0 };
      await whileSwapping(path.join(root, 'target.txt'), path.join(outside, 'secret.txt'), 'file', async () => {
        for (const deadline = Date.now() + 1500; Date.now() < deadline;) {
          const result = await tools.execute('write_file', { path: 'target.txt', content: 'pwned\n' });
          outcomes[result.status]++;
          assert.equal(await fs.readFile(path.join(outside, 'secret.txt'), 'utf8'), SECRET);
        }
      });
      await secretUnchanged();
      assert.ok(outcomes.success > 0, JSON.stringify(outcomes));
      assert.deepEqual(
        (await fs.readdir(root)).filter((n) => n.endsWith('.tmp')),
        [],
        'temporary files cleaned up',
      );
    },
  );

  it(
    'a link swapped in for the directory while a file in it is written never carries the write outside',
    { timeout: 30_000 },
    async () => {
      const outcomes = { success: 0, error: 0 };
      await whileSwapping(path.join(root, 'box'), outside, 'directory', async () => {
        for (const deadline = Date.now() + 1500; Date.now() < deadline;) {
          const result = await tools.execute('write_file', { path: 'box/secret.txt', content: 'pwned\n' });
          outcomes[result.status]++;
          assert.equal(await fs.readFile(path.join(outside, 'secret.txt'), 'utf8'), SECRET);
        }
      });
      assert.equal(await fs.readFile(path.join(outside, 'secret.txt'), 'utf8'), SECRET);
      // Linux holds the checked directory open: not even a temporary file lands outside.
      if (process.platform === 'linux') await secretUnchanged();
      assert.ok(outcomes.success > 0, JSON.stringify(outcomes));
    },
  );
});

/**
 * The other process of the race tests: swaps argv[1] between a real file or directory
 * (argv[3]) and a link to argv[2], holding each for a random 0–300 µs (long enough for a
 * write to go through a link that appeared just after its check), for at most 20 seconds.
 */
const SWAPPER = `
const fs = require('node:fs');
const [target, to, kind] = process.argv.slice(1);
const clear = () => {
  try { fs.unlinkSync(target); } catch (error) {
    if (error.code === 'EISDIR' || error.code === 'EPERM') fs.rmSync(target, { recursive: true, force: true });
  }
};
const hold = () => {
  const until = process.hrtime.bigint() + BigInt(Math.floor(Math.random() * 300000));
  while (process.hrtime.bigint() < until);
};
for (const end = Date.now() + 20000; Date.now() < end; ) {
  try { clear(); fs.symlinkSync(to, target); } catch {}
  hold();
  try { clear(); kind === 'file' ? fs.writeFileSync(target, 'inside\\n') : fs.mkdirSync(target); } catch {}
  hold();
}
`;

describe('execute_command', () => {
  it('runs in the workspace and reports the exit code and output', async () => {
    await fs.mkdir(path.join(root, 'sub'));
    const result = await tools.execute('execute_command', { command: 'pwd && echo oops >&2 && exit 3' });
    assert.equal(result.status, 'success');
    assert.equal(result.content, `exit code 3\n${root}\noops\n`);
    const inSub = await tools.execute('execute_command', { command: 'pwd', cwd: 'sub' });
    assert.equal(inSub.content, `exit code 0\n${path.join(root, 'sub')}\n`);
  });

  it('kills the command at its timeout', async () => {
    const started = Date.now();
    const result = await tools.execute('execute_command', { command: 'echo started; sleep 20', timeout_seconds: 1 });
    assert.equal(result.status, 'error');
    assert.match(result.content, /^the command timed out after 1s\nstarted/);
    assert.ok(Date.now() - started < 5000);
  });

  it('is killed when the turn is cancelled', async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 200);
    const result = await tools.execute('execute_command', { command: 'sleep 20' }, abort.signal);
    assert.deepEqual(result, { status: 'error', content: 'the command was cancelled' });
  });

  it('refuses a working directory outside the workspace', async () => {
    const result = await tools.execute('execute_command', { command: 'ls', cwd: '..' });
    assert.match(result.content, /outside the workspace/);
  });
});

describe('arguments and proposals', () => {
  it('names a missing or mistyped argument, and an unknown tool', async () => {
    assert.deepEqual(await tools.execute('read_file', {}), { status: 'error', content: 'path: required' });
    assert.deepEqual(await tools.execute('read_file', { path: 3 }), {
      status: 'error',
      content: 'path: expected string',
    });
    assert.deepEqual(await tools.execute('read_file', { path: 'a', start_line: 'x' }), {
      status: 'error',
      content: 'start_line: expected an integer',
    });
    assert.deepEqual(await tools.execute('create_plan', {}), { status: 'error', content: 'unknown tool create_plan' });
  });

  it('proposes the content a write or an edit would leave', async () => {
    await write('a.py', 'x = 1\n');
    assert.deepEqual(await tools.propose('write_file', { path: 'new.py', content: 'y\n' }), {
      path: path.join(root, 'new.py'),
      label: 'new.py',
      before: undefined,
      after: 'y\n',
    });
    assert.deepEqual(await tools.propose('edit_file', { path: 'a.py', old_text: '1', new_text: '2' }), {
      path: path.join(root, 'a.py'),
      label: 'a.py',
      before: 'x = 1\n',
      after: 'x = 2\n',
    });
    assert.equal(await tools.propose('edit_file', { path: 'a.py', old_text: 'zzz', new_text: '2' }), undefined);
    assert.equal(await tools.propose('execute_command', { command: 'ls' }), undefined);
    assert.equal(await tools.propose('write_file', { path: '../out.py', content: '' }), undefined);
  });
});

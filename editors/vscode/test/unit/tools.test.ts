import '../stubs/register';
import assert from 'node:assert/strict';
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
  it('creates a file (and its directories) with an undoable edit, then saves it', async () => {
    const result = await tools.execute('write_file', { path: 'pkg/sub/new.py', content: 'print("hi")\n' });
    assert.deepEqual(result, { status: 'success', content: 'wrote 12 bytes to pkg/sub/new.py' });
    assert.equal(await read('pkg/sub/new.py'), 'print("hi")\n');
    assert.equal(vscode.state.appliedEdits.length, 1);
    assert.deepEqual(
      vscode.state.appliedEdits[0]?.operations.map((o) => o.op),
      ['createFile', 'replace'],
    );
    const document = vscode.state.documents.find((d) => d.uri.fsPath === path.join(root, 'pkg/sub/new.py'));
    assert.equal(document?.isDirty, false);
  });

  it('replaces an existing file, also when it is open with unsaved changes', async () => {
    const full = await write('a.txt', 'old\n');
    vscode.openUnsaved(full, 'old and unsaved\n');
    await tools.execute('write_file', { path: 'a.txt', content: 'new\n' });
    assert.equal(await read('a.txt'), 'new\n');
    assert.equal(vscode.state.appliedEdits[0]?.operations[0]?.op, 'replace');
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
  it('replaces the one occurrence with a range edit', async () => {
    await write('a.py', 'def f():\n    return 1\n');
    const result = await tools.execute('edit_file', { path: 'a.py', old_text: 'return 1', new_text: 'return 2' });
    assert.deepEqual(result, { status: 'success', content: 'edited a.py' });
    assert.equal(await read('a.py'), 'def f():\n    return 2\n');
    const operation = vscode.state.appliedEdits[0]?.operations[0];
    assert.ok(operation?.op === 'replace');
    assert.deepEqual(operation.range.start, new vscode.Position(1, 4));
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

-- The workspace boundary in the file tools: symlinks that leave the workspace (in
-- listings, searches, reads and writes, a final link or a dangling one), a symlink swapped
-- in right before a write, FIFOs, and paths no file can have.
local t = require('helpers')

local SECRET = 'SECRET-7f3a9c'
local OUTSIDE = '(outside the workspace, skipped)'

local run = t.run_tool

local function refused(root, name, args, says)
  local status, content = run(root, name, args)
  t.eq('error', status, ('%s %s'):format(name, vim.inspect(args)))
  t.contains(content, says or 'is outside the workspace', name)
end

-- A workspace and, beside it, a directory holding a secret.
local function setup()
  t.setup()
  local root = t.workspace()
  local outside = vim.fs.dirname(root) .. '/outside-' .. vim.fs.basename(root)
  t.write(outside .. '/secret.txt', 'token = ' .. SECRET .. '\n')
  return root, outside
end

local function symlink(target, path)
  assert(vim.uv.fs_symlink(target, path))
end

local function swap_in_symlink(target, path)
  local tmp = path .. '.swap'
  symlink(target, tmp)
  assert(vim.uv.fs_rename(tmp, path))
end

t.test('list and search skip symlinks that leave the workspace', function()
  local root, outside = setup()
  t.write(outside .. '/deep/hidden.txt', SECRET .. '\n')
  t.write(root .. '/src/app.py', 'the token is read here\n')
  symlink(outside .. '/secret.txt', root .. '/src/creds.txt')
  symlink(outside, root .. '/vendor')
  symlink(outside .. '/missing', root .. '/gone')
  symlink(root .. '/src/app.py', root .. '/alias.py') -- stays inside
  symlink(root .. '/src', root .. '/same') -- a directory inside: listed, not entered twice
  local environ = vim.uv.fs_stat('/proc/self/environ') ~= nil
  if environ then
    symlink('/proc/self/environ', root .. '/env')
  end

  local status, content = run(root, 'list_files', { path = '.', recursive = true })
  t.eq('success', status, content)
  local expected = {
    'alias.py',
    'env -> ' .. OUTSIDE,
    'gone -> ' .. OUTSIDE,
    'same/',
    'src/',
    'src/app.py',
    'src/creds.txt -> ' .. OUTSIDE,
    'vendor -> ' .. OUTSIDE,
  }
  if not environ then
    table.remove(expected, 2)
  end
  t.eq(expected, vim.split(content, '\n'), 'the recursive listing')
  t.eq('src/app.py\nsrc/creds.txt -> ' .. OUTSIDE, select(2, run(root, 'list_files', { path = 'src' })), 'src')

  local search = require('codelab.search')
  for _, use_rg in ipairs(vim.fn.executable('rg') == 1 and { false, true } or { false }) do
    search.use_rg = use_rg
    local what = use_rg and ' (rg)' or ' (Lua)'
    t.eq('no matches', select(2, run(root, 'search_in_code', { query = SECRET })), 'the secret' .. what)
    t.eq('no matches', select(2, run(root, 'search_in_code', { query = 'PATH=' })), 'the environment' .. what)
    -- rg follows no link at all; the Lua walk reads a file link that stays inside.
    local found = use_rg and 'src/app.py:1: the token is read here'
      or 'alias.py:1: the token is read here\nsrc/app.py:1: the token is read here'
    t.eq(found, select(2, run(root, 'search_in_code', { query = 'token' })), 'inside' .. what)
  end
  search.use_rg = nil
  refused(root, 'search_in_code', { query = 'token', path = 'vendor' })
  refused(root, 'list_files', { path = 'vendor', recursive = true })
end)

t.test('a read through a symlink out of the workspace is refused', function()
  local root, outside = setup()
  symlink(outside .. '/secret.txt', root .. '/creds.txt')
  symlink(outside, root .. '/vendor')
  symlink(outside .. '/missing.txt', root .. '/dangling.txt')
  for _, path in ipairs({ 'creds.txt', 'vendor/secret.txt', 'dangling.txt' }) do
    refused(root, 'read_file', { path = path })
    refused(root, 'search_in_code', { query = 'token', path = path })
  end
  -- A file loaded in a buffer, then replaced on disk by a link out: not read either way.
  t.write(root .. '/notes.txt', 'notes\n')
  vim.cmd.edit('notes.txt')
  swap_in_symlink(outside .. '/secret.txt', root .. '/notes.txt')
  refused(root, 'read_file', { path = 'notes.txt' })
end)

t.test('a write through a symlink pointing outside is refused', function()
  local root, outside = setup()
  symlink(outside .. '/secret.txt', root .. '/creds.txt')
  symlink(outside .. '/new.txt', root .. '/dangling.txt')
  symlink(outside .. '/newdir', root .. '/dangling_dir')
  refused(root, 'write_file', { path = 'creds.txt', content = 'pwned' })
  refused(root, 'write_file', { path = 'dangling.txt', content = 'pwned' })
  refused(root, 'write_file', { path = 'dangling_dir/a/b.txt', content = 'pwned' })
  refused(root, 'edit_file', { path = 'creds.txt', old_text = 'token', new_text = 'pwned' })
  refused(root, 'create_directory', { path = 'dangling_dir/a' })
  refused(root, 'execute_command', { command = 'touch made.txt', cwd = 'dangling_dir' })
  t.ok(not t.exists(outside .. '/new.txt'), 'nothing created through the dangling link')
  t.ok(not t.exists(outside .. '/newdir'), 'no directory created through the dangling link')

  -- A buffer whose file became a link out of the workspace: the write is refused.
  t.write(root .. '/notes.txt', 'notes\n')
  vim.cmd.edit('notes.txt')
  local buf = vim.api.nvim_get_current_buf()
  swap_in_symlink(outside .. '/secret.txt', root .. '/notes.txt')
  refused(root, 'write_file', { path = 'notes.txt', content = 'pwned\n' })
  t.eq({ 'notes' }, vim.api.nvim_buf_get_lines(buf, 0, -1, false), 'the buffer is left alone')

  -- The target is checked again right before :write and before the rename, after the
  -- path was resolved: a link swapped in between is not written through.
  local files = require('codelab.files')
  t.write(root .. '/plain.txt', 'plain\n')
  vim.cmd.edit('plain.txt')
  local plain = vim.api.nvim_get_current_buf()
  local full = files.path(root, 'plain.txt')
  swap_in_symlink(outside .. '/secret.txt', root .. '/plain.txt')
  local ok, err = pcall(files.write_buffer, root, plain, full, 'plain.txt')
  t.ok(not ok and files.is_failure(err), tostring(err))
  t.contains(err.message, 'plain.txt changed during the call')
  ok, err = pcall(files.write_disk, root, full, 'pwned\n', 'plain.txt')
  t.ok(not ok and files.is_failure(err), tostring(err))
  t.contains(err.message, 'plain.txt changed during the call')
  t.eq('token = ' .. SECRET .. '\n', t.read(outside .. '/secret.txt'), 'the file outside is unchanged')
  t.eq({ 'secret.txt' }, vim.fn.readdir(outside), 'nothing else written outside')
end)

t.test('a write replaces the file, keeps its mode, and leaves no temporary file', function()
  local root = setup()
  t.write(root .. '/run.sh', 'echo old\n')
  assert(vim.uv.fs_chmod(root .. '/run.sh', tonumber('750', 8)))
  t.eq('success', (run(root, 'write_file', { path = 'run.sh', content = 'echo new\n' })), 'the write')
  t.eq('success', (run(root, 'edit_file', { path = 'run.sh', old_text = 'new', new_text = 'newer' })), 'the edit')
  t.eq('echo newer\n', t.read(root .. '/run.sh'), 'the content')
  t.eq(tonumber('750', 8), vim.uv.fs_stat(root .. '/run.sh').mode % 4096, 'the mode')
  t.eq('success', (run(root, 'write_file', { path = 'a/b/c.txt', content = 'deep\n' })), 'a new file')
  t.eq('deep\n', t.read(root .. '/a/b/c.txt'), 'its directories made')
  t.eq({ 'a', 'run.sh' }, vim.fn.readdir(root), 'no temporary file left')
  refused(root, 'write_file', { path = 'a', content = 'x' }, 'a is a directory')
  refused(root, 'write_file', { path = 'run.sh/x', content = 'x' }, 'run.sh/x is not a directory')
end)

t.test('a NUL byte or an overlong path is a tool error', function()
  local root = setup()
  t.write(root .. '/a', 'the file the path stops at\n')
  local nul = 'a\0b'
  refused(root, 'read_file', { path = nul }, 'contains a NUL byte')
  refused(root, 'write_file', { path = nul, content = 'x' }, 'contains a NUL byte')
  refused(root, 'edit_file', { path = nul, old_text = 'the', new_text = 'x' }, 'contains a NUL byte')
  refused(root, 'create_directory', { path = nul }, 'contains a NUL byte')
  refused(root, 'list_files', { path = nul }, 'contains a NUL byte')
  refused(root, 'search_in_code', { query = 'the', path = nul }, 'contains a NUL byte')
  refused(root, 'execute_command', { command = 'pwd', cwd = nul }, 'contains a NUL byte')
  t.contains(require('codelab.tools').precheck(root, 'write_file', { path = nul, content = '' }), 'NUL byte')
  refused(root, 'read_file', { path = string.rep('x', 5000) }, 'is too long')
  refused(root, 'write_file', { path = 'd/' .. string.rep('y', 300), content = 'x' }, 'is too long')
  refused(root, 'read_file', { path = 5 }, 'path must be a non-empty string')
  t.eq('the file the path stops at\n', t.read(root .. '/a'), 'the file a is untouched')
  t.eq({ 'a' }, vim.fn.readdir(root), 'nothing made')
end)

t.test('a FIFO is refused, not read', function()
  local root = setup()
  t.write(root .. '/a.txt', 'needle\n')
  t.eq(0, vim.system({ 'mkfifo', root .. '/pipe' }):wait().code, 'mkfifo')
  refused(root, 'read_file', { path = 'pipe' }, 'pipe is not a regular file')
  refused(root, 'search_in_code', { query = 'needle', path = 'pipe' }, 'pipe is not a regular file')
  refused(root, 'write_file', { path = 'pipe', content = 'x' }, 'pipe is not a regular file')
  local search = require('codelab.search')
  search.use_rg = false
  t.eq('a.txt:1: needle', select(2, run(root, 'search_in_code', { query = 'needle' })), 'the search goes on')
  search.use_rg = nil
  t.eq('a.txt\npipe', select(2, run(root, 'list_files', { path = '.' })), 'listed')
end)

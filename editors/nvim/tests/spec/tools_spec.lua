-- The client tools on their own (tools.run, as the sidecar's calls reach it), and the
-- workspace boundary through the sidecar.
local t = require('helpers')

local run = t.run_tool

t.test('paths outside the workspace are refused', function()
  t.setup()
  local root = t.workspace()
  local outside = vim.fs.dirname(root) .. '/outside'
  vim.fn.mkdir(outside, 'p')
  t.write(outside .. '/secret.txt', 'secret\n')
  vim.uv.fs_symlink(outside, root .. '/link')

  for _, path in ipairs({ '../outside/secret.txt', outside .. '/secret.txt', 'link/secret.txt', 'sub/../../x' }) do
    local status, content = run(root, 'read_file', { path = path })
    t.eq('error', status, 'read_file ' .. path)
    t.contains(content, 'is outside the workspace')
  end
  local status = run(root, 'write_file', { path = 'link/new.txt', content = 'x' })
  t.eq('error', status, 'a write through a symlink out of the workspace')
  t.ok(not t.exists(outside .. '/new.txt'), 'nothing written outside')
  t.eq('error', (run(root, 'execute_command', { command = 'pwd', cwd = '..' })), 'a command run outside')
  t.eq('error', (run(root, 'list_files', { path = '/' })), 'a listing outside')
end)

t.test('a call for a path outside the workspace is answered with an error, unasked', function()
  t.setup()
  local root = t.workspace()
  t.answer_ui({})
  t.answer_calls('approve')
  vim.cmd('CodelabMode code create ../outside.py that prints hi')
  t.wait_status(root, 'completed')
  local w = t.state(root)
  local answered = {}
  for _, call in pairs(w.calls) do
    answered[#answered + 1] = call
  end
  t.eq(1, #answered, 'tool calls')
  local call = answered[1]
  t.eq('write_file', call.params.name, 'the call')
  t.eq(true, call.params.requiresApproval, 'the sidecar asked for approval of a path outside')
  t.eq('error', call.answer.status, 'the answer')
  t.contains(call.answer.content, 'outside the workspace')
  t.eq(0, #t.asked + #t.ui.selects, 'the user is not asked about a refused call')
  t.ok(not t.exists(vim.fs.dirname(root) .. '/outside.py'), 'nothing written outside')
  t.contains(t.chat_text(root), '✗ write_file ../outside.py — error')
end)

t.test('edit_file changes only the matched text of a loaded buffer, in one undo step', function()
  t.setup()
  local root = t.workspace()
  t.write(root .. '/app.py', 'def main():\n    return 1\n\nmain()\n')
  vim.cmd.edit('app.py')
  local buf = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_lines(buf, 3, 4, false, { 'main()  # unsaved' })

  local status, content =
    run(root, 'edit_file', { path = 'app.py', old_text = 'return 1', new_text = 'return 2\n    # two' })
  t.eq('success', status, content)
  t.eq(
    { 'def main():', '    return 2', '    # two', '', 'main()  # unsaved' },
    vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  )
  t.eq('def main():\n    return 2\n    # two\n\nmain()  # unsaved\n', t.read(root .. '/app.py'), 'saved')
  vim.api.nvim_buf_call(buf, function()
    vim.cmd('silent normal! u')
  end)
  t.eq('    return 1', vim.api.nvim_buf_get_lines(buf, 1, 2, false)[1], 'after undo')

  status, content = run(root, 'edit_file', { path = 'app.py', old_text = 'main', new_text = 'x' })
  t.eq('error', status, 'an ambiguous edit')
  t.contains(content, 'old_text occurs 2 times in app.py')

  t.write(root .. '/disk.txt', 'one\ntwo\n')
  status = run(root, 'edit_file', { path = 'disk.txt', old_text = 'two\n', new_text = 'three\n' })
  t.eq('success', status, 'an edit of a file in no buffer')
  t.eq('one\nthree\n', t.read(root .. '/disk.txt'))
end)

t.test('read, list, search, create, and run commands', function()
  t.setup()
  local root = t.workspace()
  t.write(root .. '/src/a.py', 'alpha = 1\nbeta = 2\ngamma = 3\n')
  t.write(root .. '/src/b.py', 'BETA = 20\n')
  t.write(root .. '/node_modules/x.js', 'beta\n')

  t.eq('beta = 2\ngamma = 3\n', select(2, run(root, 'read_file', { path = 'src/a.py', start_line = 2, end_line = 3 })))
  t.eq('error', (run(root, 'read_file', { path = 'missing.py' })), 'a missing file')
  t.eq('src/', select(2, run(root, 'list_files', { path = '.' })), 'a listing, skipping node_modules')
  t.eq(
    'src/\nsrc/a.py\nsrc/b.py',
    select(2, run(root, 'list_files', { path = '.', recursive = true })),
    'recursive, skipping node_modules'
  )

  local search = require('codelab.search')
  for _, use_rg in ipairs(vim.fn.executable('rg') == 1 and { false, true } or { false }) do
    search.use_rg = use_rg
    local what = use_rg and ' (rg)' or ' (Lua)'
    t.eq('src/a.py:2: beta = 2', select(2, run(root, 'search_in_code', { query = 'beta' })), 'a literal search' .. what)
    t.eq(
      'src/a.py:2: beta = 2\nsrc/b.py:1: BETA = 20',
      select(2, run(root, 'search_in_code', { query = '(beta|BETA) =', is_regex = true })),
      'a regex search' .. what
    )
    t.eq('no matches', select(2, run(root, 'search_in_code', { query = 'delta', path = 'src' })), 'no match' .. what)
  end
  search.use_rg = nil

  t.eq('success', (run(root, 'create_directory', { path = 'pkg/sub' })), 'create_directory')
  t.ok(vim.fn.isdirectory(root .. '/pkg/sub') == 1, 'the directory')

  local status, content = run(root, 'execute_command', { command = 'echo hi; pwd', cwd = 'src' })
  t.eq('success', status, content)
  t.eq('exit code 0\nhi\n' .. root .. '/src\n', content, 'the output')
  status, content = run(root, 'execute_command', { command = 'exit 3' })
  t.eq('exit code 3\n', content, 'a failing command is a result, not an error')

  local start = vim.uv.hrtime()
  status, content = run(root, 'execute_command', { command = 'sleep 30 | cat', timeout_seconds = 1 })
  t.eq('error', status, 'a command over its timeout')
  t.contains(content, 'timed out after 1s')
  t.ok((vim.uv.hrtime() - start) / 1e9 < 5, 'the timeout ends the whole pipeline')

  t.eq('error', (run(root, 'no_such_tool', {})), 'an unknown tool')
  t.eq('error', (run(root, 'write_file', { path = 'x.txt' })), 'missing arguments')
end)

t.test('a Lua error while handling a call still answers the sidecar', function()
  t.setup()
  local root = t.workspace()
  local tools = require('codelab.tools')
  local preview = tools.preview
  tools.preview = function()
    error('a broken diff')
  end
  local ok, err = pcall(function()
    vim.cmd('CodelabMode code create broken.py that prints hi')
    t.wait_status(root, 'completed')
  end)
  tools.preview = preview
  t.ok(ok, err)
  local call = select(2, next(t.state(root).calls))
  t.eq('error', call.answer.status, 'the answer')
  t.contains(call.answer.content, 'a broken diff')
end)

t.test('approve always: later writes of the session are not asked again', function()
  t.setup()
  local root = t.workspace()
  t.answer_ui({})
  t.answer_calls('always')
  vim.cmd('Codelab implement a weather app')
  t.wait_status(root, 'awaiting_plan_approval')
  vim.cmd('CodelabApprove')
  t.wait_status(root, 'completed')
  t.eq(1, #t.asked, 'calls asked')
  t.ok(t.exists(root .. '/README.md') and t.exists(root .. '/test_weather.py'), 'every file written')
end)

t.test('options become camelCase initializationOptions without empty tables', function()
  local config = require('codelab.config')
  config.setup({
    model = 'demo',
    api_base = 'http://127.0.0.1:8080/v1',
    api_key_env = 'LOCAL_LLM_KEY',
    database = '/tmp/agent.db',
    approval = { auto_approve = { read = true, write = false }, allowed_commands = { 'git status' } },
    limits = {},
  })
  t.eq({
    workspaceRoot = '/w',
    database = '/tmp/agent.db',
    llm = { model = 'demo' },
    approval = { autoApprove = { read = true, write = false }, allowedCommands = { 'git status' } },
  }, config.init_options('/w'))
  local cmd = config.command()
  t.eq(
    { '--api-base', 'http://127.0.0.1:8080/v1', '--api-key-env', 'LOCAL_LLM_KEY' },
    vim.list_slice(cmd, #cmd - 3),
    'the API base and its key variable are flags, never initializationOptions'
  )
  config.setup({ cmd = { 'x' } })
  t.eq({ 'x' }, config.options.cmd, 'a list option replaces the default')
end)

t.test('results are cut under the size limit, at a line end or a whole character', function()
  local tools = require('codelab.tools')
  t.eq('short', tools.truncate('short', 10), 'a short text')
  local cut = tools.truncate(string.rep('line\n', 100), 100)
  t.ok(#cut <= 100, 'at most the limit')
  t.eq('… (truncated: 500 bytes in all)', (cut:gsub('line\n', '')), 'whole lines then the note')
  cut = tools.truncate(string.rep('é', 100), 91)
  local body = cut:match('^(.-)\n…')
  t.ok(#cut <= 91 and #body % 2 == 0 and body == string.rep('é', #body / 2), 'whole characters: ' .. cut)
end)

t.test('an edit that cannot apply is refused before anyone is asked', function()
  t.setup()
  local root = t.workspace()
  t.write(root .. '/twice.txt', 'x\nx\n')
  local tools = require('codelab.tools')
  t.contains(
    tools.precheck(root, 'edit_file', { path = 'twice.txt', old_text = 'x', new_text = 'y' }),
    'occurs 2 times'
  )
  t.contains(
    tools.precheck(root, 'edit_file', { path = 'twice.txt', old_text = 'z', new_text = 'y' }),
    'occurs 0 times'
  )
  t.eq(
    nil,
    tools.precheck(root, 'edit_file', { path = 'twice.txt', old_text = 'x\nx', new_text = 'y' }),
    'a unique match'
  )
  t.eq(nil, tools.precheck(root, 'write_file', { path = 'new/file.txt', content = '' }), 'a new file')
  t.contains(tools.precheck(root, 'write_file', { path = '/etc/passwd', content = '' }), 'outside the workspace')
end)

t.test('the Lua search sees unsaved buffer text', function()
  t.setup()
  local root = t.workspace()
  t.write(root .. '/m.py', 'saved = 1\n')
  vim.cmd.edit('m.py')
  vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'unsaved = 1' })
  local search = require('codelab.search')
  search.use_rg = false
  local _, content = run(root, 'search_in_code', { query = 'unsaved' })
  search.use_rg = nil
  t.eq('m.py:1: unsaved = 1', content, 'the match')
end)

t.test('a buffer of a file not yet on disk is read and written through', function()
  t.setup()
  local root = t.workspace()
  vim.cmd.edit('sub/fresh.py')
  local buf = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, { 'draft' })
  t.eq('draft\n', select(2, run(root, 'read_file', { path = 'sub/fresh.py' })), 'the unsaved draft')
  t.eq('success', (run(root, 'write_file', { path = 'sub/fresh.py', content = 'final = True\n' })), 'the write')
  t.eq({ 'final = True' }, vim.api.nvim_buf_get_lines(buf, 0, -1, false), 'the buffer')
  t.eq('final = True\n', t.read(root .. '/sub/fresh.py'), 'the new file, its directory made')
end)

-- An atomic task edits a file loaded in a buffer: through the buffer, undoable, saved.
local t = require('helpers')

t.test('a code task writes a loaded buffer, undoably, and saves it', function()
  t.setup()
  local root = t.workspace()
  t.write(root .. '/hello.py', 'print("old")\n')
  vim.cmd.edit('hello.py')
  local buf = vim.api.nvim_get_current_buf()
  t.answer_ui({ select = 'Approve' })

  vim.cmd('Codelab mode=code create hello.py that prints hello')
  local result = t.wait_status(root, 'completed')

  t.eq({ 'print("hello")' }, vim.api.nvim_buf_get_lines(buf, 0, -1, false), 'the buffer')
  t.eq('print("hello")\n', t.read(root .. '/hello.py'), 'the file on disk')
  t.eq(false, vim.bo[buf].modified, 'the buffer is saved')
  t.eq('code', result.agent, 'the agent')
  t.contains(result.message, 'Wrote hello.py', 'the completion')

  -- One approval, asked with the diff of the change on screen.
  t.eq(1, #t.ui.selects, 'approval prompts')
  local prompt = t.ui.selects[1]
  t.eq({ 'Approve', 'Approve always', 'Reject' }, prompt.items, 'the choices')
  t.contains(prompt.opts.prompt, 'write_file hello.py')
  t.contains(prompt.windows, '-print("old")', 'the diff shown')
  t.contains(prompt.windows, '+print("hello")', 'the diff shown')
  t.eq('', t.floating_text(), 'the diff window is closed after the decision')

  -- The chat shows the task, the call with its outcome, and the result.
  local chat = t.chat_text(root)
  t.contains(chat, '> create hello.py that prints hello')
  t.contains(chat, '✓ write_file hello.py — success')
  t.contains(chat, 'Wrote hello.py.')

  vim.api.nvim_buf_call(buf, function()
    vim.cmd('silent normal! u')
  end)
  t.eq({ 'print("old")' }, vim.api.nvim_buf_get_lines(buf, 0, -1, false), 'the buffer after undo')
end)

t.test('one sidecar per workspace, reused across its buffers', function()
  t.setup()
  local root = t.workspace()
  t.write(root .. '/a.py', 'a = 1\n')
  t.write(root .. '/b.py', 'b = 2\n')
  t.answer_ui({})
  vim.cmd.edit('a.py')
  vim.cmd('CodelabMode explain explain what a.py does')
  t.wait_status(root, 'completed')
  vim.cmd.edit('b.py')
  vim.cmd('CodelabMode explain explain what b.py does')
  local result = t.wait_status(root, 'completed')
  t.contains(result.message, 'It begins with: b = 2')
  t.eq(1, #t.clients(), 'sidecars')
  t.eq(root, t.clients()[1].config.root_dir, 'its root')
  t.eq(0, #t.ui.selects, 'reads need no approval')
end)

t.test('a question is asked with vim.ui.input; its answer continues the turn', function()
  t.setup()
  local root = t.workspace()
  t.answer_ui({
    select = 'Approve',
    input = 'main.py',
  })
  vim.cmd('Codelab create a file')
  local result = t.wait_status(root, 'completed')
  t.contains(t.ui.inputs[1].opts.prompt, 'What should the file be called?')
  t.ok(t.exists(root .. '/main.py'), 'the file named in the answer')
  t.contains(t.chat_text(root), '> main.py')
  local first = result.sessionId

  -- The next task goes on in the same session; :CodelabNew starts another.
  vim.cmd('Codelab create notes.md with my notes')
  t.eq(first, t.wait_status(root, 'completed').sessionId, 'the same session')
  vim.cmd('CodelabNew create todo.md with my todos')
  local other = t.wait_status(root, 'completed').sessionId
  t.ok(other ~= first, 'a new session')
  t.ok(t.exists(root .. '/todo.md'), 'todo.md')
end)

-- The model reads what the user sees: a loaded buffer's unsaved text, not the disk's.
local t = require('helpers')

t.test('read_file of a modified buffer returns its unsaved text', function()
  t.setup()
  local root = t.workspace()
  t.write(root .. '/main.py', 'x = 1\n')
  vim.cmd.edit('main.py')
  local buf = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, { 'y = 2' })
  t.eq(true, vim.bo[buf].modified, 'the buffer is modified')
  t.answer_ui({})

  vim.cmd('Codelab explain what main.py does')
  local result = t.wait_status(root, 'completed')

  t.eq('explain', result.agent, 'the agent chosen by the classifier')
  t.eq('main.py has 1 lines. It begins with: y = 2', result.message, 'the answer')
  t.contains(t.chat_text(root), '[explain] main.py has 1 lines. It begins with: y = 2')
  t.eq('x = 1\n', t.read(root .. '/main.py'), 'the disk is untouched')
  t.eq(true, vim.bo[buf].modified, 'the buffer is still unsaved')
  t.eq(0, #t.ui.selects, 'a read needs no approval')
  -- The streamed answer is not printed a second time as the result.
  local _, count = t.chat_text(root):gsub('It begins with', '')
  t.eq(1, count, 'times the answer is shown')

  -- The running sidecar, as :checkhealth sees it.
  vim.cmd('checkhealth codelab')
  local report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
  t.ok(report:match('codelab%-agent %S+ for ' .. vim.pesc(root)), 'the running sidecar in:\n' .. report)
  t.ok(not report:find('protocol version', 1, true), 'the protocol version matches:\n' .. report)
end)

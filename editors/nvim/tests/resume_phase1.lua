-- The first life of an editor in resume_spec.lua: start a plan, approve it, leave the
-- approval of its first write waiting in the chat, record the call id, and quit Neovim
-- (which stops the sidecar).
local root, record = _G.arg[1], _G.arg[2]
local tests_dir = vim.fs.dirname(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p'))
package.path = tests_dir .. '/?.lua;' .. package.path
local t = require('helpers')

t.setup()
vim.fn.mkdir(root, 'p')
vim.cmd.cd(vim.fn.fnameescape(root))
t.answer_calls(t.HOLD)
vim.cmd('Codelab implement a currency rates app')
t.wait(function()
  local w = require('codelab').state()
  return w.result and w.result.status == 'awaiting_plan_approval'
end, 'the plan')
vim.cmd('CodelabApprove')
t.wait_asked(1)
local w = require('codelab').state()
local call_id = w.result.pendingToolCalls[1]
t.write(record, call_id)
vim.cmd('qa!')

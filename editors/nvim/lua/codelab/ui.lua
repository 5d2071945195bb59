-- Asking the user: approvals through vim.ui.select / vim.ui.input (so that any picker
-- plugin that replaces them is used), with the diff of a write shown while they decide.
local M = {}

M.APPROVE = 'Approve'
M.ALWAYS = 'Approve always'
M.REJECT = 'Reject'

local function summary(call)
  local args = call.arguments or {}
  if call.name == 'execute_command' then
    return ('run `%s`%s'):format(args.command or '?', args.cwd and (' in ' .. args.cwd) or '')
  end
  if call.name == 'search_in_code' then
    return ('search for %q'):format(args.query or '?')
  end
  return ('%s %s'):format(call.name, args.path or '')
end
M.summary = summary

--- Shows `text` (a unified diff) in a floating window; returns a function that closes it.
function M.show_diff(text, title)
  local lines = vim.split(text, '\n', { plain = true, trimempty = true })
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].filetype = 'diff'
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].modifiable = false
  local width = math.max(40, math.min(vim.o.columns - 4, 100))
  local height = math.max(1, math.min(#lines, math.floor(vim.o.lines * 0.6)))
  local ok, win = pcall(vim.api.nvim_open_win, buf, false, {
    relative = 'editor',
    row = math.max(0, math.floor((vim.o.lines - height) / 2) - 2),
    col = math.floor((vim.o.columns - width) / 2),
    width = width,
    height = height,
    style = 'minimal',
    border = 'rounded',
    title = ' ' .. title .. ' ',
    title_pos = 'center',
  })
  if not ok then
    return function() end, buf
  end
  vim.cmd('redraw')
  return function()
    if vim.api.nvim_win_is_valid(win) then
      vim.api.nvim_win_close(win, true)
    end
  end,
    buf
end

--- Asks whether to run a call: cb('approve' | 'always' | 'reject', feedback?).
--- Dismissing the prompt rejects the call: a turn must never wait on a forgotten dialog.
function M.approve(call, diff, cb)
  local close = function() end
  if diff then
    close = M.show_diff(diff, 'codelab: ' .. summary(call))
  end
  local prompt = ('codelab: %s?'):format(summary(call))
  if call.reason and call.reason ~= '' then
    prompt = ('%s (%s)'):format(prompt, call.reason)
  end
  local decided = false
  vim.ui.select({ M.APPROVE, M.ALWAYS, M.REJECT }, {
    prompt = prompt,
    kind = 'codelab.approval',
  }, function(choice)
    if decided then
      return
    end
    decided = true
    close()
    if choice == M.APPROVE then
      return cb('approve')
    elseif choice == M.ALWAYS then
      return cb('always')
    elseif choice == nil then
      return cb('reject')
    end
    vim.ui.input({ prompt = 'Feedback for the model (optional): ' }, function(text)
      cb('reject', (text and vim.trim(text) ~= '') and text or nil)
    end)
  end)
end

return M

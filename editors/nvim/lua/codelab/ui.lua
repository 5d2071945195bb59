-- What the user sees of a call that waits for them, outside the chat buffer: a one-line
-- notification (never a prompt: it must not take the keys being typed), the
-- `User CodelabApproval` event, and the diff in a window beside the chat (`gd`).
local M = {}

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

--- `text` as one line that fits the command line: a longer message (or two at once) would
--- open Neovim's "Press ENTER" prompt, which takes the next key typed. The chat holds
--- the details.
function M.one_line(text)
  text = tostring(text):gsub('%s*\n.*$', '')
  local room = math.max(vim.v.echospace - 1, 20)
  if vim.fn.strdisplaywidth(text) > room then
    text = vim.fn.strcharpart(text, 0, room - 1) .. '…'
  end
  return text
end

--- Notifies the user on the next turn of the event loop (never inside a command half-way).
function M.say(text, level)
  vim.schedule(function()
    vim.notify(M.one_line('codelab: ' .. text), level or vim.log.levels.INFO, { title = 'codelab' })
  end)
end

--- The notification of a call that waits for approval.
function M.notification(call)
  return M.one_line(('codelab: %s? ga/gA/gr in the chat'):format(summary(call)))
end

--- Tells the user (and any autocommand) that `call` waits for a decision in the chat.
function M.announce(root, call)
  vim.schedule(function()
    vim.notify(M.notification(call), vim.log.levels.INFO, { title = 'codelab' })
    pcall(vim.api.nvim_exec_autocmds, 'User', {
      pattern = 'CodelabApproval',
      modeline = false,
      data = { root = root, call = call },
    })
  end)
end

--- Shows `text` (a unified diff) in a read-only window beside the current one, the
--- cursor staying where it is. Returns the window.
function M.show_diff(text, title)
  local lines = vim.split(text, '\n', { plain = true, trimempty = true })
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  pcall(vim.api.nvim_buf_set_name, buf, 'codelab-diff://' .. title)
  vim.bo[buf].filetype = 'diff'
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].modifiable = false
  vim.keymap.set('n', 'q', '<Cmd>close<CR>', { buffer = buf, nowait = true, silent = true, desc = 'Close the diff' })
  local previous = vim.api.nvim_get_current_win()
  vim.cmd('leftabove vertical sbuffer ' .. buf)
  local win = vim.api.nvim_get_current_win()
  if vim.api.nvim_win_is_valid(previous) then
    vim.api.nvim_set_current_win(previous)
  end
  return win, buf
end

return M

-- The chat buffer of a workspace: the conversation as a list of entries (the user's
-- tasks, streamed text and thoughts, tool calls, plans, results), rendered into a scratch
-- buffer. A thought (the model's reasoning) is an entry of its own, on lines marked with
-- THOUGHT that syntax/codelab.vim dims: never part of the answer's paragraph.
-- Tool calls and plans are entries updated in place, so their status changes live.
-- Rendering is coalesced to once per event-loop turn: a stream of deltas costs one redraw.
-- A call waiting for approval shows the keys that answer it and its diff, under it.
local config = require('codelab.config')

local M = {}

local chats = {} -- root -> { buf, entries, index = key -> entry, dirty }

--- The prefix of a thought's lines (syntax/codelab.vim matches it).
M.THOUGHT = '  ┆ '

--- The prefix of the diff lines under a call waiting for approval (syntax/codelab.vim).
M.DIFF = '    │ '
--- The line under a call waiting for approval: the keys that answer it, in the chat.
M.KEYS = '    ga approve · gA always · gr reject (feedback) · gd diff · <C-c> cancel the turn'

local MARK = { pending = ' ', in_progress = '…', done = '✓', failed = '✗', skipped = '-' }
local TOOL_STATE = {
  queued = '·',
  awaiting_approval = '?',
  running = '…',
  success = '✓',
  error = '✗',
  rejected = '⊘',
  cancelled = '⊘',
}

local function chat(root)
  local c = chats[root]
  if not c then
    c = { entries = { { kind = 'header', text = 'codelab — ' .. root } }, index = {} }
    chats[root] = c
  end
  return c
end

local function first_line(text, max)
  local line = (text or ''):match('^[^\n]*') or ''
  max = max or 100
  if #line > max then
    line = line:sub(1, max) .. '…'
  end
  return line
end

local function push_lines(out, text, prefix, indent)
  local lines = vim.split(text or '', '\n', { plain = true })
  for i, line in ipairs(lines) do
    out[#out + 1] = (i == 1 and prefix or indent) .. line
  end
end

local function render_diff(out, diff)
  if not diff then
    return
  end
  local lines = vim.split(diff, '\n', { plain = true, trimempty = true })
  local max = (config.options.chat or {}).diff_lines or 40
  for i = 1, math.min(#lines, max) do
    out[#out + 1] = M.DIFF .. lines[i]
  end
  if #lines > max then
    out[#out + 1] = ('%s… %d more lines: gd shows the whole diff'):format(M.DIFF, #lines - max)
  end
end

local function render_plan(out, entry)
  local plan = entry.plan
  out[#out + 1] = ''
  out[#out + 1] = ('Plan v%s (%s): %s'):format(plan.version or 1, (plan.status or '?'):gsub('_', ' '), plan.goal or '')
  for _, s in ipairs(plan.subtasks or {}) do
    local deps = (s.dependencies and #s.dependencies > 0) and (', after ' .. table.concat(s.dependencies, ', ')) or ''
    out[#out + 1] = ('  [%s] %s %s (%s%s)'):format(MARK[s.status] or '?', s.id, s.title or '', s.agent or '?', deps)
    if s.result and s.result ~= '' and (s.status == 'done' or s.status == 'failed') then
      push_lines(out, s.result, '      → ', '        ')
    end
  end
  if plan.status == 'awaiting_approval' then
    out[#out + 1] = '  ga approve · gr reject [feedback] · gR revise {feedback} (or :CodelabApprove …)'
  end
end

local function render_entry(out, entry)
  local kind = entry.kind
  if kind == 'header' then
    out[#out + 1] = entry.text
  elseif kind == 'user' then
    out[#out + 1] = ''
    push_lines(out, entry.text, '> ', '  ')
  elseif kind == 'text' then
    push_lines(out, entry.text, ('[%s] '):format(entry.agent or '?'), '')
  elseif kind == 'thought' then
    -- Models wrap their reasoning in blank lines; inside it, a blank line stays marked.
    local text = entry.text:gsub('^%s*\n', ''):gsub('%s+$', '')
    if text ~= '' then
      push_lines(out, text, M.THOUGHT, M.THOUGHT)
    end
  elseif kind == 'note' then
    push_lines(out, entry.text, '· ', '  ')
  elseif kind == 'tool' then
    local line = ('%s %s'):format(TOOL_STATE[entry.state] or '?', entry.summary)
    local state = (entry.state or ''):gsub('_', ' ')
    line = line .. ' — ' .. state
    if entry.detail and entry.detail ~= '' then
      line = line .. ': ' .. first_line(entry.detail)
    end
    out[#out + 1] = line
    if entry.state == 'awaiting_approval' then
      out[#out + 1] = M.KEYS
      render_diff(out, entry.diff)
    end
  elseif kind == 'plan' then
    render_plan(out, entry)
  elseif kind == 'result' then
    push_lines(out, entry.text, entry.prefix or '', '  ')
  end
end

local function windows(buf)
  local wins = {}
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_buf(win) == buf then
      wins[#wins + 1] = win
    end
  end
  return wins
end

local function render(root)
  local c = chats[root]
  c.dirty = false
  if not c.buf or not vim.api.nvim_buf_is_valid(c.buf) then
    return
  end
  local out = {}
  for _, entry in ipairs(c.entries) do
    render_entry(out, entry)
  end
  local before = vim.api.nvim_buf_line_count(c.buf)
  local followers = {}
  for _, win in ipairs(windows(c.buf)) do
    local row = vim.api.nvim_win_get_cursor(win)[1]
    if win ~= vim.api.nvim_get_current_win() or row >= before then
      followers[#followers + 1] = win
    end
  end
  vim.bo[c.buf].modifiable = true
  vim.api.nvim_buf_set_lines(c.buf, 0, -1, false, out)
  vim.bo[c.buf].modifiable = false
  vim.bo[c.buf].modified = false
  for _, win in ipairs(followers) do
    pcall(vim.api.nvim_win_set_cursor, win, { #out, 0 })
  end
end

local function changed(root)
  local c = chat(root)
  if c.dirty then
    return
  end
  c.dirty = true
  vim.schedule(function()
    if chats[root] and chats[root].dirty then
      render(root)
    end
  end)
end

local function add(root, entry, key)
  local c = chat(root)
  c.entries[#c.entries + 1] = entry
  if key then
    c.index[key] = entry
  end
  c.last = entry
  changed(root)
  return entry
end

-- --- the buffer -----------------------------------------------------------------------

local function keymaps(buf)
  local function map(lhs, rhs, desc)
    vim.keymap.set('n', lhs, rhs, { buffer = buf, nowait = true, silent = true, desc = desc })
  end
  local function codelab()
    return require('codelab')
  end
  map('q', '<Cmd>close<CR>', 'Close the codelab chat')
  map('i', function()
    vim.ui.input({ prompt = 'Task: ' }, function(text)
      if text and vim.trim(text) ~= '' then
        codelab().ask(text)
      end
    end)
  end, 'Send a task or an answer')
  map('ga', function()
    codelab().approve()
  end, 'Approve the call waiting (else the plan)')
  map('gA', function()
    codelab().approve_always()
  end, 'Approve the call waiting, and the same for the rest of the session')
  map('gr', function()
    codelab().reject(nil, { ask = true })
  end, 'Reject the call waiting (else the plan), with feedback')
  map('gR', function()
    codelab().revise()
  end, 'Ask for a revision of the plan')
  map('gd', function()
    codelab().diff()
  end, 'Show the diff of the call waiting beside the chat')
  map('<C-c>', function()
    codelab().cancel()
  end, 'Cancel the turn')
end

function M.buffer(root)
  local c = chat(root)
  if c.buf and vim.api.nvim_buf_is_valid(c.buf) then
    return c.buf
  end
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_name(buf, 'codelab://' .. root)
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = 'codelab'
  vim.b[buf].codelab_root = root
  keymaps(buf)
  c.buf = buf
  render(root)
  return buf
end

--- The workspace of a chat buffer, if `buf` is one.
function M.root_of(buf)
  return vim.b[buf].codelab_root
end

--- Shows the chat of `root` without moving the cursor there.
function M.open(root, focus)
  local buf = M.buffer(root)
  local wins = windows(buf)
  if #wins > 0 then
    if focus then
      vim.api.nvim_set_current_win(wins[1])
    end
    return wins[1]
  end
  local o = config.options.chat or {}
  local position = o.position or 'right'
  local size = o.size or 0.4
  local previous = vim.api.nvim_get_current_win()
  if position == 'current' then
    vim.api.nvim_set_current_buf(buf)
  elseif position == 'tab' then
    vim.cmd('tab sbuffer ' .. buf)
  else
    local vertical = position == 'right' or position == 'left'
    local total = vertical and vim.o.columns or vim.o.lines
    local n = size > 1 and math.floor(size) or math.floor(total * size)
    local where = (position == 'right' or position == 'below') and 'botright' or 'topleft'
    vim.cmd(('%s %s%d split'):format(where, vertical and 'vertical ' or '', math.max(n, 10)))
    vim.api.nvim_win_set_buf(0, buf)
  end
  local win = vim.api.nvim_get_current_win()
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  vim.wo[win].number = false
  vim.wo[win].relativenumber = false
  vim.wo[win].signcolumn = 'no'
  pcall(vim.api.nvim_win_set_cursor, win, { vim.api.nvim_buf_line_count(buf), 0 })
  if not focus and position ~= 'current' and position ~= 'tab' and vim.api.nvim_win_is_valid(previous) then
    vim.api.nvim_set_current_win(previous)
  end
  return win
end

-- --- entries --------------------------------------------------------------------------

function M.user(root, text)
  add(root, { kind = 'user', text = text })
end

function M.note(root, text)
  add(root, { kind = 'note', text = text })
end

--- Appends a streamed delta, `kind` 'text' (the default) or 'thought': to the current
--- paragraph while the same agent keeps talking in the same kind, else to a new one.
function M.delta(root, agent, turn_id, delta, kind)
  kind = kind == 'thought' and 'thought' or 'text'
  local c = chat(root)
  local last = c.last
  if last and last.kind == kind and last.agent == agent and last.turn == turn_id then
    last.text = last.text .. delta
    changed(root)
    return
  end
  add(root, { kind = kind, agent = agent, turn = turn_id, text = delta })
end

--- The text streamed last in a turn, thoughts skipped (to avoid printing the same answer
--- twice): nil when something else was shown after it.
function M.streamed(root, turn_id)
  local entries = chat(root).entries
  for i = #entries, 1, -1 do
    local entry = entries[i]
    if entry.kind == 'text' then
      return entry.turn == turn_id and entry.text or nil
    elseif entry.kind ~= 'thought' then
      return nil
    end
  end
end

--- Shows a tool call in its current state (one entry per callId, updated in place);
--- `diff` is shown under a call waiting for approval.
function M.tool(root, call, state, detail, diff)
  local c = chat(root)
  local entry = c.index['tool:' .. call.callId]
  if not entry then
    entry = add(root, { kind = 'tool', summary = require('codelab.ui').summary(call) }, 'tool:' .. call.callId)
  end
  entry.state = state
  entry.detail = detail
  entry.diff = diff
  changed(root)
end

function M.plan(root, plan)
  local key = ('plan:%s:%s'):format(plan.id, plan.version or 1)
  local c = chat(root)
  local entry = c.index[key]
  if entry then
    entry.plan = plan
    changed(root)
  else
    add(root, { kind = 'plan', plan = plan }, key)
  end
end

function M.result(root, text, prefix)
  add(root, { kind = 'result', text = text, prefix = prefix })
end

--- The rendered lines (renders now if something is pending).
function M.lines(root)
  local c = chats[root]
  if not c then
    return {}
  end
  M.buffer(root)
  if c.dirty then
    render(root)
  end
  return vim.api.nvim_buf_get_lines(c.buf, 0, -1, false)
end

function M.text(root)
  return table.concat(M.lines(root), '\n')
end

return M

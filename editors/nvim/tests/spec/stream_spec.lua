-- Streamed text and thoughts in the chat: a reasoning model's thoughts (`agent/stream`
-- with kind "thought") go on dimmed lines of their own, never into the answer's
-- paragraph, and never count as the answer when the turn's result is shown.
local t = require('helpers')

local ANSWER = 'main.py has 1 lines. It begins with: x = 1'
local BEFORE = '\nThe user asks about main.py.\n\nRead it first.\n\n'
local AFTER = 'That answers it.'

--- The demo model streams no thoughts: send them in where the sidecar's notifications
--- arrive, as a reasoning model's would come: one before the turn's first text, one right
--- after the answer.
local function with_thoughts()
  local client = require('codelab.client')
  local deliver = client.on_notification
  local first, paragraph = true, ''
  client.on_notification = function(root, method, p)
    if method ~= 'agent/stream' then
      paragraph = ''
      return deliver(root, method, p)
    end
    local function thought(delta)
      deliver(root, method, vim.tbl_extend('force', p, { delta = delta, kind = 'thought' }))
    end
    if first then
      first = false
      thought(BEFORE)
    end
    deliver(root, method, p)
    paragraph = paragraph .. p.delta
    if vim.trim(paragraph) == ANSWER then
      thought(AFTER)
    end
  end
end

--- The highlight group at (row, col) of `buf`, and the group it finally links to.
local function highlight(buf, row, col)
  return vim.api.nvim_buf_call(buf, function()
    local id = vim.fn.synID(row, col, 1)
    return { vim.fn.synIDattr(id, 'name'), vim.fn.synIDattr(vim.fn.synIDtrans(id), 'name') }
  end)
end

t.test('a thought is shown apart and dimmed, and the answer is shown once', function()
  vim.cmd('syntax on')
  t.setup()
  local root = t.workspace()
  t.write(root .. '/main.py', 'x = 1\n')
  t.answer_ui({})
  with_thoughts()

  vim.cmd('Codelab explain what main.py does')
  local result = t.wait_status(root, 'completed')
  t.eq(ANSWER, result.message, 'the answer')

  local chat = require('codelab.chat')
  local lines = chat.lines(root)
  local text = table.concat(lines, '\n')
  t.contains(
    text,
    table.concat({
      chat.THOUGHT .. 'The user asks about main.py.',
      chat.THOUGHT,
      chat.THOUGHT .. 'Read it first.',
      '[explain] ',
    }, '\n'),
    'the thought before the text, on lines of its own'
  )
  t.contains(text, '\n[explain] ' .. ANSWER .. '\n' .. chat.THOUGHT .. AFTER, 'the thought after the answer')
  local _, count = text:gsub(vim.pesc('It begins with'), '')
  t.eq(1, count, 'times the answer is shown (the thought after it does not hide that it was streamed)')
  t.eq(ANSWER, vim.trim(chat.streamed(root, result.turnId)), 'the streamed answer, thoughts left out')

  local buf = chat.buffer(root)
  local function row_of(line)
    local index = vim.fn.index(lines, line)
    t.ok(index >= 0, 'no line ' .. line)
    return index + 1
  end
  for _, line in ipairs({ chat.THOUGHT .. 'Read it first.', chat.THOUGHT .. AFTER }) do
    t.eq({ 'codelabThought', 'Comment' }, highlight(buf, row_of(line), #chat.THOUGHT + 1), 'the highlight of ' .. line)
  end
  local answer_row = row_of('[explain] ' .. ANSWER)
  t.eq({ '', '' }, highlight(buf, answer_row, #'[explain] ' + 1), 'the highlight of the answer')
end)

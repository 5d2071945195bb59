-- Cancelling and quitting in the middle of work, typed into a real editor (an embedded
-- Neovim whose main loop reads the keys) against the real sidecar: <C-c> in the chat
-- cancels the turn (never answers a call as an error), a plan pauses, quitting cancels a
-- running turn first or leaves a waiting call for :CodelabResume, and the chat says each
-- thing once.
local t = require('helpers')

local CANCELLED = 'Cancelled by the user before a result arrived'

--- Lines that repeat the line before them (blank lines aside).
local function repeated(text)
  local out, previous = {}, nil
  for _, line in ipairs(vim.split(text, '\n', { plain = true })) do
    if line ~= '' and line == previous then
      out[#out + 1] = line
    end
    previous = line
  end
  return out
end

local function count(text, needle)
  local _, n = text:gsub(vim.pesc(needle), '')
  return n
end

--- A workspace of `n` small files: "read every file" keeps the demo model's turn running,
--- one read_file after another, long enough to interrupt it.
local function many_files(root, n)
  for i = 1, n do
    t.write(('%s/f%03d.txt'):format(root, i), ('line %d\n'):format(i))
  end
end

--- The sidecar's stored view of `session`, asked from editor `e`.
local function stored_session(e, session)
  return e.lua(
    [[
    local client = vim.lsp.get_clients({ name = 'codelab' })[1]
    local reply = client:request_sync('agent/getSession', { sessionId = ... }, 5000, 0)
    local tools = {}
    for _, m in ipairs(reply.result.messages) do
      if m.role == 'tool' then
        tools[#tools + 1] = m.content
      end
    end
    return { session = reply.result.session, pending = #reply.result.pendingToolCalls, tools = tools }
  ]],
    session
  )
end

--- Room for the long turn of many_files: the default budget of model calls would end it.
local LONG = { limits = { max_steps = 1000 } }

t.test('Ctrl-C in the chat cancels the turn mid-plan (no tool error); :CodelabResume goes on', function()
  local root = t.workspace()
  local e = t.embed(root)
  e.input(':Codelab implement a currency rates app<CR>')
  e.wait_status('awaiting_plan_approval')
  e.input(':CodelabChat<CR>ga')
  local call_id = e.wait_asking()
  local session = e.state('w.session')

  e.input('<C-c>')
  e.wait_status('cancelled')
  t.eq('cancelled', e.state(('w.calls[%q].state'):format(call_id)), 'the call')
  t.eq(true, e.state(('w.calls[%q].answer == nil'):format(call_id)), 'no answer was sent for it')
  t.eq('paused', e.state('w.plans[w.plan_id].status'), 'the plan')
  t.contains(e.chat(), 'plan paused: :CodelabResume continues it')
  local stored = stored_session(e, session)
  t.eq(0, stored.pending, 'calls left pending in the sidecar')
  t.contains(stored.tools[#stored.tools], CANCELLED, 'what the model was told of the call')
  t.ok(not t.exists(root .. '/currency_rates.py'), 'the cancelled write did not happen')

  e.input(':CodelabResume<CR>')
  local asked
  for _ = 1, 3 do
    asked = e.wait_asking(asked)
    e.input('ga')
  end
  e.wait_status('completed')
  t.eq('completed', e.state('w.plans[w.plan_id].status'), 'the plan after the resume')
  for _, file in ipairs({ 'currency_rates.py', 'test_currency_rates.py', 'README.md' }) do
    t.ok(t.exists(root .. '/' .. file), file)
  end

  -- Said once each, in words: no repeated lines, no event names.
  local chat = e.chat()
  t.eq({}, repeated(chat), 'lines repeated in the chat')
  t.eq(1, count(chat, 'approved'), 'times the plan approval is shown:\n' .. chat)
  t.eq(1, count(chat, 'Plan v1'), 'times the plan is shown')
  for _, raw in ipairs({ 'plan_approved', 'agent_switched', 'subtask_started', 'classified:' }) do
    t.ok(not chat:find(raw, 1, true), 'a raw event name in the chat: ' .. raw)
  end
  t.eq(0, e.lua('return _G.codelab_prompts'), 'prompts opened')
  e.notes_fit()
end)

t.test('Ctrl-C while the turn runs cancels it; no call is answered as an error', function()
  local root = t.workspace()
  many_files(root, 400)
  local e = t.embed(root, LONG)
  e.input(':CodelabMode code read every file<CR>')
  e.wait('#vim.tbl_keys(require("codelab").state().calls) >= 5', 'the turn to be under way')
  e.input(':CodelabChat<CR>')
  e.wait('vim.bo.filetype == "codelab"', 'the chat')
  t.ok(e.state('w.busy ~= nil'), 'the turn still runs')
  e.input('<C-c>')
  e.wait_status('cancelled')
  local answers = e.lua([[
    local out = {}
    for _, call in pairs(require('codelab').state().calls) do
      out[#out + 1] = call.answer and call.answer.status or call.state
    end
    return out
  ]])
  t.ok(#answers < 400, 'the turn was cut short')
  for _, status in ipairs(answers) do
    t.ok(status == 'success' or status == 'cancelled', 'a call ended as ' .. status)
  end
  local stored = stored_session(e, e.state('w.session'))
  t.eq('idle', stored.session.state, 'the session after the cancel')
  t.eq(0, stored.pending, 'calls left pending')
  t.contains(e.chat(), '⊘ cancelled')
end)

t.test('quitting while the turn runs cancels it first: the session is left idle, not cut off', function()
  local root = t.workspace()
  many_files(root, 400)
  local first = t.embed(root, LONG)
  first.input(':CodelabMode code read every file<CR>')
  first.wait('#vim.tbl_keys(require("codelab").state().calls) >= 5', 'the turn to be under way')
  local session = first.state('w.session')
  first.input(':qa!<CR>')
  t.eq(0, first.exited(), 'the first editor quit')

  local second = t.embed(root, LONG)
  second.lua([[
    require('codelab.client').with(require('codelab').root(0), function(client, err)
      _G.started = client and 'started' or tostring(err)
    end)
  ]])
  second.wait('_G.started', 'the sidecar')
  t.eq('started', second.lua('return _G.started'), 'the sidecar of the next editor')
  local stored = stored_session(second, session)
  t.eq(false, stored.session.interrupted, 'a step cut off by the quit')
  t.eq('idle', stored.session.state, 'the session after the quit')
  t.eq(0, stored.pending, 'calls left pending')
end)

t.test('a typed :qa! with a call waiting quits; the next editor resumes the same call', function()
  local root = t.workspace()
  t.write(root .. '/notes.txt', 'keep me\n')
  local first = t.embed(root)
  first.lua('vim.cmd.edit("notes.txt")')
  first.input(':Codelab implement a currency rates app<CR>')
  first.wait_status('awaiting_plan_approval')
  first.input(':CodelabApprove<CR>')
  local call_id = first.wait_asking()
  first.input(':qa!<CR>')
  t.eq(0, first.exited(), 'the first editor quit')
  t.eq('keep me\n', t.read(root .. '/notes.txt'), 'nothing typed into the file')
  t.ok(not t.exists(root .. '/currency_rates.py'), 'the waiting call was not answered')

  local second = t.embed(root)
  second.input(':CodelabResume<CR>')
  t.eq(call_id, second.wait_asking(), 'the same call, asked again')
  second.input(':CodelabApprove<CR>')
  second.wait('require("codelab").state().calls[' .. ('%q'):format(call_id) .. '].state == "answered"', 'the answer')
  second.input(':CodelabApproveAlways<CR>')
  second.wait_status('completed')
  t.contains(second.chat(), '✓ write_file README.md — success')
  for _, file in ipairs({ 'currency_rates.py', 'test_currency_rates.py', 'README.md' }) do
    t.ok(t.exists(root .. '/' .. file), file)
  end
end)

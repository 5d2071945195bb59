-- The conversation of a workspace with its sidecar: sends the work requests, reads each
-- TurnResult, and does what it asks (run the pending tool calls, see calls.lua; wait for
-- a plan decision; ask the question). Mirrors the flow of the terminal client.
--
-- One request that starts or continues work is in flight per workspace at a time: its
-- TurnResult arrives after every notification of the turn, and decides what comes next.
local calls = require('codelab.calls')
local cancel = require('codelab.cancel')
local chat = require('codelab.chat')
local client = require('codelab.client')
local config = require('codelab.config')
local events = require('codelab.events')
local store = require('codelab.store')
local ui = require('codelab.ui')

local M = {}

local workspaces = {} -- root -> state (see M.workspace)

-- Deferred: an error message shown inside a command would abort the caller half-way.
local function notify(text, level)
  ui.say(text, level)
end

function M.workspace(root)
  local w = workspaces[root]
  if not w then
    w = {
      root = root,
      session = nil, -- the session shown in the chat
      adopting = false, -- a new session was asked for: take the id of the first notification
      busy = nil, -- the work request in flight, if any
      result = nil, -- the last TurnResult
      calls = {}, -- callId -> { params, state, answer }
      plans = {}, -- plan id -> latest snapshot
      plan_id = nil,
    }
    workspaces[root] = w
  end
  return w
end

function M.workspaces()
  return workspaces
end

local function set_session(w, id)
  if id and id ~= w.session then
    w.session = id
  end
  w.adopting = false
  if id then
    store.remember(w.root, id)
  end
end

local function fire(w)
  pcall(vim.api.nvim_exec_autocmds, 'User', {
    pattern = 'CodelabTurn',
    modeline = false,
    data = { root = w.root, result = w.result },
  })
end

-- --- requests ---------------------------------------------------------------------------

local handle_result

--- Sends a request that starts or continues work; its TurnResult drives what comes next.
local function work(w, method, params, on_response)
  local token = { method = method }
  w.busy = token
  fire(w)
  client.request(w.root, method, params, function(err, result)
    if w.busy == token then
      w.busy = nil
    end
    if on_response then
      on_response(err, result)
    end
    local ok, failure = xpcall(handle_result, debug.traceback, w, method, err, result)
    if not ok then
      notify(failure, vim.log.levels.ERROR)
    end
  end)
end
M.work = work

-- --- results ----------------------------------------------------------------------------

local function failed_subtask(w)
  local plan = w.plan_id and w.plans[w.plan_id]
  for _, s in ipairs(plan and plan.subtasks or {}) do
    if s.status == 'failed' then
      return plan, s
    end
  end
end

local function show_result(w, result)
  local root = w.root
  local status = result.status
  if status == 'awaiting_plan_approval' then
    notify('the plan awaits your decision: ga/gr/gR in the chat')
  elseif status == 'awaiting_user_input' then
    local question = result.message or '?'
    chat.result(root, question .. '\n(answer with :Codelab {answer}, or i in the chat)', '? ')
    if config.options.ask_questions then
      vim.ui.input({ prompt = question .. ' ' }, function(answer)
        if answer and vim.trim(answer) ~= '' and w.result == result and not w.busy then
          M.ask(w, answer)
        end
      end)
    else
      notify('a question for you in the chat: answer with :Codelab {answer}')
    end
  elseif status == 'completed' then
    local message = result.message or ''
    local streamed = chat.streamed(root, result.turnId)
    if message ~= '' and vim.trim(streamed or '') ~= vim.trim(message) then
      chat.result(root, message, '✔ ')
    end
  elseif status == 'failed' then
    local text = (result.error and result.error.message) or result.message or 'the turn failed'
    local hint = failed_subtask(w) and ':CodelabRetry or :CodelabSkip the failed subtask'
      or ':CodelabResume tries again'
    chat.result(root, ('failed: %s\n(%s)'):format(text, hint), '✗ ')
    notify('the turn failed: ' .. text, vim.log.levels.WARN)
  elseif status == 'cancelled' then
    chat.result(root, 'cancelled', '⊘ ')
  end
end

function handle_result(w, method, err, result)
  if cancel.active(w) then
    if result and result.planId then
      w.plan_id = result.planId
    end
    return cancel.finish(w, not err and result or nil)
  end
  if err then
    local code = err.code
    if method == 'agent/toolResult' and (code == -32013 or code == -32012) and w.session then
      -- The sidecar already has this answer (or never had the call): ask where the turn is.
      chat.note(w.root, tostring(err.message))
      return work(w, 'agent/resume', { sessionId = w.session })
    end
    chat.result(w.root, ('%s: %s'):format(method, tostring(err.message or err)), '✗ ')
    notify(('%s failed: %s'):format(method, tostring(err.message or err)), vim.log.levels.ERROR)
    fire(w)
    return
  end
  set_session(w, result.sessionId)
  w.result = result
  if result.planId then
    w.plan_id = result.planId
  end
  show_result(w, result)
  fire(w)
  if result.status == 'awaiting_tool_results' then
    calls.next(w, work)
  end
end

-- --- notifications ----------------------------------------------------------------------

local on = {}

function on.toolCall(w, p)
  if not calls.record(w, p) then
    return -- sent again by agent/resume: same callId, same call
  end
  -- Asked (with the keys that answer it) once the turn's result says it is its turn.
  chat.tool(w.root, p, 'queued')
end

function on.stream(w, p)
  chat.delta(w.root, p.agent, p.turnId, p.delta or '', p.kind)
end

function on.status(w, p)
  local text = events.line(w, p)
  if text then
    chat.note(w.root, text)
  end
end

function on.planUpdate(w, p)
  local plan = p.plan or {}
  w.plans[plan.id] = plan
  w.plan_id = plan.id
  chat.plan(w.root, plan)
end

function M.on_notification(root, method, params)
  local w = M.workspace(root)
  local session = params.sessionId
  if w.adopting or not w.session then
    set_session(w, session)
  elseif session ~= w.session then
    return -- another session of the same sidecar; the chat shows one at a time
  end
  local fn = on[method:gsub('^agent/', '')]
  if fn then
    fn(w, params)
  end
end

function M.on_exit(root, _, code, signal)
  local w = workspaces[root]
  if not w then
    return
  end
  w.busy = nil
  w.cancel = nil
  calls.interrupted(w)
  if vim.v.exiting == vim.NIL then
    chat.note(root, ('the sidecar stopped (exit code %s, signal %s); :CodelabResume continues'):format(code, signal))
  end
  fire(w)
end

client.on_notification = M.on_notification
client.on_exit = M.on_exit
cancel.changed = fire

-- Quitting in the middle of a turn cancels it first (see cancel.leave).
vim.api.nvim_create_autocmd('VimLeavePre', {
  group = vim.api.nvim_create_augroup('codelab.session', { clear = true }),
  callback = function()
    cancel.leave(workspaces)
  end,
})

-- --- what the user does -------------------------------------------------------------------

local function refuse_if_busy(w)
  if w.cancel then
    notify('the turn is being cancelled', vim.log.levels.WARN)
    return true
  end
  if w.busy then
    notify('a turn is running in this workspace: wait for it, or :CodelabCancel', vim.log.levels.WARN)
    return true
  end
  return false
end

function M.ask(w, text, mode, new_session)
  if refuse_if_busy(w) then
    return
  end
  local r = w.result
  if r and not new_session and r.sessionId == w.session then
    if r.status == 'awaiting_tool_results' then
      notify('the turn waits for tool results: answer them, or :CodelabCancel', vim.log.levels.WARN)
      return
    elseif r.status == 'awaiting_plan_approval' then
      notify('the plan awaits a decision: :CodelabApprove, :CodelabReject or :CodelabRevise', vim.log.levels.WARN)
      return
    end
  end
  local params = { text = text }
  if mode and mode ~= 'auto' then
    params.mode = mode
  end
  if w.session and not new_session then
    params.sessionId = w.session
  else
    w.session = nil
    w.result = nil
    w.adopting = true
  end
  if config.options.chat.auto_open then
    chat.open(w.root)
  end
  chat.user(w.root, text)
  work(w, 'agent/sendMessage', params)
end

--- Answers the tool call waiting in the chat ('approve', 'always', 'reject' + feedback).
--- Returns false when none waits.
function M.answer_call(w, decision, feedback)
  return calls.decide(w, decision, feedback)
end

--- The call waiting for the user's decision, if any.
function M.asking(w)
  return calls.asking(w)
end

--- Decides on the plan that awaits approval ('approve', 'reject', 'revise').
function M.decide(w, decision, feedback)
  if refuse_if_busy(w) then
    return
  end
  local r = w.result
  if not r or r.status ~= 'awaiting_plan_approval' or not r.planId then
    local hint = (not r and store.last_session(w.root)) and ' (after a restart, :CodelabResume first)' or ''
    notify('no plan awaits a decision' .. hint, vim.log.levels.WARN)
    return
  end
  if decision == 'revise' then
    chat.note(w.root, 'plan sent back for a revision: ' .. tostring(feedback))
  end
  work(w, 'agent/approvePlan', {
    sessionId = r.sessionId,
    planId = r.planId,
    decision = decision,
    feedback = feedback,
  })
end

function M.cancel(w)
  cancel.request(w)
end

function M.resume(w, session_id)
  if refuse_if_busy(w) then
    return
  end
  local id = session_id or w.session or store.last_session(w.root)
  if not id then
    notify('no session to resume in ' .. w.root, vim.log.levels.WARN)
    return
  end
  local switching = id ~= w.session or not w.result
  set_session(w, id)
  if config.options.chat.auto_open then
    chat.open(w.root)
  end
  if not switching then
    return work(w, 'agent/resume', { sessionId = id })
  end
  w.result = nil
  -- A fresh editor knows nothing of the session: show its plan before going on.
  local token = { method = 'agent/getSession' }
  w.busy = token
  client.request(w.root, 'agent/getSession', { sessionId = id }, function(err, info)
    if w.busy == token then
      w.busy = nil
    end
    if err then
      chat.result(w.root, 'agent/getSession: ' .. tostring(err.message), '✗ ')
      notify('cannot resume ' .. id .. ': ' .. tostring(err.message), vim.log.levels.ERROR)
      return
    end
    chat.note(w.root, ('session %s: %s (%s)'):format(id, info.session.title or '', info.session.state or '?'))
    if info.plan then
      w.plans[info.plan.id] = info.plan
      w.plan_id = info.plan.id
      chat.plan(w.root, info.plan)
    end
    work(w, 'agent/resume', { sessionId = id })
  end)
end

function M.subtask(w, action)
  if refuse_if_busy(w) then
    return
  end
  local plan, subtask = failed_subtask(w)
  if not plan then
    notify('no failed subtask to ' .. action, vim.log.levels.WARN)
    return
  end
  chat.note(w.root, ('%s subtask %s'):format(action, subtask.id))
  work(w, action == 'retry' and 'agent/retrySubtask' or 'agent/skipSubtask', {
    sessionId = w.session,
    planId = plan.id,
    subtaskId = subtask.id,
  })
end

function M.pick_session(w)
  client.request(w.root, 'agent/listSessions', { limit = 50 }, function(err, result)
    if err then
      notify('agent/listSessions failed: ' .. tostring(err.message), vim.log.levels.ERROR)
      return
    end
    local sessions = result.sessions or {}
    if #sessions == 0 then
      notify('no sessions yet')
      return
    end
    vim.ui.select(sessions, {
      prompt = 'codelab sessions',
      kind = 'codelab.session',
      format_item = function(s)
        return ('%s  [%s]  %s'):format(s.title, s.state, (s.updatedAt or ''):sub(1, 16))
      end,
    }, function(choice)
      if choice then
        M.resume(w, choice.id)
      end
    end)
  end)
end

--- A short status for a statusline.
function M.status(w)
  if w.busy then
    return 'codelab: working'
  end
  local r = w.result
  if not r then
    return ''
  end
  if calls.asking(w) then
    return 'codelab: a call awaits your approval'
  end
  local labels = {
    awaiting_tool_results = 'codelab: tool calls wait',
    awaiting_plan_approval = 'codelab: plan awaits approval',
    awaiting_user_input = 'codelab: question for you',
    failed = 'codelab: failed',
  }
  return labels[r.status] or ''
end

return M

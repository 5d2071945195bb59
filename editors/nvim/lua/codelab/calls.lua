-- The tool calls of a turn: each pending call is checked, asked (when the sidecar says it
-- needs approval), run, and answered with agent/toolResult, one at a time; the answer to
-- the last of a batch brings the turn's next result.
--
-- Asking never takes the keyboard: a call that needs approval is shown in the chat (with
-- its diff) and waits there until the user answers it (`ga`, `gA`, `gr` in the chat, or
-- :CodelabApprove / :CodelabApproveAlways / :CodelabReject). Typing anywhere else never
-- answers a call, and quitting leaves it unanswered for :CodelabResume.
--
-- A call is handled at most once per callId: agent/resume sends unanswered calls again,
-- and a call still being decided, or already answered, is not asked or run a second time.
-- Every call that is handled gets an answer, whatever fails on the way.
local chat = require('codelab.chat')
local client = require('codelab.client')
local config = require('codelab.config')
local tools = require('codelab.tools')
local ui = require('codelab.ui')

local M = {}

-- Calls whose answer is on its way: a re-sent copy of one must not be handled again.
local IN_FLIGHT = { asking = true, running = true, sending = true }

local function notify(text, level)
  ui.say(text, level)
end

local run_call, send_answer, fetch_call

-- The diff window a call waiting for approval opened (gd) closes once it is answered.
local function close_diff(call)
  local win = call.diff_win
  call.diff_win = nil
  if win and vim.api.nvim_win_is_valid(win) then
    pcall(vim.api.nvim_win_close, win, true)
  end
end

--- Records a call announced by agent/toolCall; false when its callId is known already.
function M.record(w, params)
  if w.calls[params.callId] then
    return false
  end
  w.calls[params.callId] = { params = params, state = 'new' }
  return true
end

--- Drops the calls of `session` that were not answered (the turn was cancelled).
function M.cancel(w, session)
  for _, call in pairs(w.calls) do
    if call.params.sessionId == session and not call.answer and call.state ~= 'answered' then
      call.state = 'cancelled'
      call.decide = nil
      close_diff(call)
      chat.tool(w.root, call.params, 'cancelled')
    end
  end
end

--- The call of the turn waiting for the user's decision, if any (one at a time, in order).
function M.asking(w)
  local result = w.result
  for _, id in ipairs(result and result.pendingToolCalls or {}) do
    local call = w.calls[id]
    if call and call.state == 'asking' and call.decide then
      return call
    end
  end
end

--- Answers the call waiting for the user: 'approve', 'always' or 'reject' (with feedback).
--- Returns false when no call waits.
function M.decide(w, decision, feedback)
  local call = M.asking(w)
  if not call then
    return false
  end
  local decide = call.decide
  call.decide = nil
  close_diff(call)
  decide(decision, feedback)
  return true
end

--- After the sidecar exited: an answer that was on its way may not have arrived.
function M.interrupted(w)
  for _, call in pairs(w.calls) do
    if call.state == 'sending' then
      call.state = 'unsent' -- agent/resume tells whether it is still pending; then it is sent again
    end
  end
end

--- Handles the next pending call of the turn in `w.result`, unless one is on its way.
function M.next(w, work)
  local result = w.result
  if not result or result.status ~= 'awaiting_tool_results' then
    return
  end
  local pending = result.pendingToolCalls or {}
  for _, id in ipairs(pending) do
    local call = w.calls[id]
    if call and IN_FLIGHT[call.state] then
      return -- its answer's response carries the calls still pending
    end
  end
  local id = pending[1]
  if not id then
    return
  end
  local call = w.calls[id]
  if not call then
    return fetch_call(w, id, work)
  end
  if call.answer then
    -- Answered before the sidecar restarted: send the same answer, never run it twice.
    return send_answer(w, call, work)
  end
  run_call(w, call, work)
end

-- The notification of a pending call never arrived (it should not happen): ask for it.
function fetch_call(w, id, work)
  if w.fetching == id then
    notify(('the sidecar lists call %s as pending but does not describe it'):format(id), vim.log.levels.ERROR)
    return
  end
  w.fetching = id
  client.request(w.root, 'agent/getSession', { sessionId = w.session }, function(err, result)
    if err then
      notify('agent/getSession failed: ' .. tostring(err.message), vim.log.levels.ERROR)
      return
    end
    for _, p in ipairs(result.pendingToolCalls or {}) do
      if not w.calls[p.callId] then
        w.calls[p.callId] = {
          state = 'new',
          params = {
            sessionId = w.session,
            turnId = p.turnId,
            callId = p.callId,
            name = p.name,
            arguments = p.arguments or {},
            requiresApproval = p.requiresApproval,
            reason = p.reason,
            planId = p.planId,
            subtaskId = p.subtaskId,
            executedBy = p.executedBy,
            server = p.server,
          },
        }
      end
    end
    M.next(w, work)
    w.fetching = nil
  end)
end

-- The sidecar refuses a result over its limit (PayloadTooLarge): stay under it.
local function result_limit()
  local limits = config.options.limits or {}
  local max = limits.max_tool_result_bytes or limits.maxToolResultBytes or 1024 * 1024
  return math.max(max - 1024, 1024)
end

local function execute(w, call, remember, answer)
  call.state = 'running'
  chat.tool(w.root, call.params, 'running')
  tools.run(w.root, call.params.name, call.params.arguments, function(status, content)
    answer({ status = status, content = tools.truncate(content or '', result_limit()), remember = remember or nil })
  end)
end

function run_call(w, call, work)
  local p = call.params
  call.state = 'asking'
  local answered = false
  local function answer(a)
    if answered then
      return
    end
    answered = true
    if call.state == 'cancelled' then
      return -- the turn was cancelled while the user decided
    end
    call.answer = a
    send_answer(w, call, work)
  end
  local function guard(fn)
    local ok, err = xpcall(fn, debug.traceback)
    if not ok then
      answer({ status = 'error', content = 'the editor failed to handle the call: ' .. tostring(err) })
    end
  end
  guard(function()
    if p.executedBy == 'server' then
      -- an MCP tool: the sidecar runs it once approved; the editor only asks
      if not p.requiresApproval then
        return answer({ status = 'error', content = 'the call needs no approval' })
      end
      call.decide = function(decision, feedback)
        if call.state == 'cancelled' then
          return
        elseif decision == 'reject' then
          answer({ status = 'rejected', feedback = feedback })
        else
          answer({ status = 'success', remember = decision == 'always' or nil })
        end
      end
      chat.tool(w.root, p, 'awaiting_approval', p.reason, nil)
      ui.announce(w.root, p)
      return
    end
    local refused = tools.precheck(w.root, p.name, p.arguments)
    if refused then
      return answer({ status = 'error', content = refused })
    end
    if not p.requiresApproval then
      return execute(w, call, false, answer)
    end
    local diff = config.options.diff_preview and tools.preview(w.root, p.name, p.arguments) or nil
    call.diff = diff
    call.decide = function(decision, feedback)
      guard(function()
        if call.state == 'cancelled' then
          return -- the turn was cancelled while the user decided: run nothing
        elseif decision == 'reject' then
          answer({ status = 'rejected', feedback = feedback })
        else
          execute(w, call, decision == 'always', answer)
        end
      end)
    end
    chat.tool(w.root, p, 'awaiting_approval', p.reason, diff)
    ui.announce(w.root, p)
  end)
end

function send_answer(w, call, work)
  local a = call.answer
  local p = call.params
  call.state = 'sending'
  local detail = a.status == 'rejected' and (a.feedback or 'no feedback') or a.content
  chat.tool(w.root, p, a.status, detail)
  work(w, 'agent/toolResult', {
    sessionId = p.sessionId,
    callId = p.callId,
    status = a.status,
    content = a.content,
    feedback = a.feedback,
    remember = a.remember,
  }, function()
    call.state = 'answered'
  end)
end

return M

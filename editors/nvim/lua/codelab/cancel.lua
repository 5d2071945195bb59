-- Cancelling a turn (:CodelabCancel, <C-c> in the chat, quitting Neovim).
--
-- From the moment the user cancels, nothing more of the turn runs in the editor: no
-- pending call is asked or run, and whatever the request in flight brings back ends the
-- turn as cancelled, said once in the chat. The sidecar may let a turn reach its next
-- rest point (new calls waiting) although it answered the cancel: the turn is then
-- cancelled again there, so that the session is left idle (or its plan paused).
local calls = require('codelab.calls')
local chat = require('codelab.chat')
local client = require('codelab.client')
local ui = require('codelab.ui')

local M = {}

--- Set by session.lua: announces that the turn of a workspace changed.
M.changed = function(_) end

-- Statuses where a turn rests with something left to do: a cancel ends them there.
local RESTING = { awaiting_tool_results = true, awaiting_plan_approval = true, awaiting_user_input = true }
-- How long quitting waits for the sidecar to end a running turn.
M.LEAVE_TIMEOUT = 3000

--- True while the current session's turn is being cancelled: results are not followed.
function M.active(w)
  return w.cancel ~= nil and w.cancel.session == w.session
end

--- Ends the cancelled turn with what the request in flight brought back (`result`, nil
--- after an error or when no request was in flight).
function M.finish(w, result)
  local cancel = w.cancel
  if cancel.answered then
    w.cancel = nil
  end
  if result and RESTING[result.status] then
    -- The turn reached a rest point before the cancel reached it: cancel it there (no
    -- new work starts until that is done).
    calls.cancel(w, cancel.session)
    local params = { sessionId = cancel.session }
    if cancel.leaving then
      pcall(client.request_sync, w.root, 'agent/cancel', params, M.LEAVE_TIMEOUT)
    else
      w.cancel = cancel
      client.request(w.root, 'agent/cancel', params, function()
        if w.cancel == cancel then
          w.cancel = nil
          M.changed(w)
        end
      end)
    end
  end
  local base = result or w.result or { sessionId = w.session }
  w.result = vim.tbl_extend('force', base, { status = 'cancelled', pendingToolCalls = {} })
  if not cancel.shown then
    cancel.shown = true
    chat.result(w.root, 'cancelled', '⊘ ')
  end
  M.changed(w)
end

--- The user cancels the turn of workspace `w`.
function M.request(w)
  if not w.session then
    ui.say('no session to cancel', vim.log.levels.WARN)
    return
  end
  local session = w.session
  local cancel = { session = session }
  w.cancel = cancel
  client.request(w.root, 'agent/cancel', { sessionId = session }, function(err, result)
    if err or not result.cancelled then
      if w.cancel == cancel and not cancel.shown then
        w.cancel = nil
      end
      if err then
        ui.say('agent/cancel failed: ' .. tostring(err.message), vim.log.levels.ERROR)
      else
        ui.say('nothing to cancel')
      end
      return
    end
    calls.cancel(w, session)
    cancel.answered = true
    -- A request in flight brings the turn's end (see M.finish); a resting turn has none.
    if not w.busy and w.cancel == cancel then
      M.finish(w, nil)
    end
  end)
end

--- Neovim quits: each running turn is cancelled, and the sidecar given a moment to end
--- it, so that a plan pauses cleanly (:CodelabResume continues it) instead of a step
--- being cut off. A call waiting for approval is left as it is: the sidecar keeps it and
--- sends it again, with the same id, on resume.
function M.leave(workspaces)
  local running = {}
  for root, w in pairs(workspaces) do
    if w.busy and w.session and not w.cancel then
      w.cancel = { session = w.session, answered = true, shown = true, leaving = true }
      pcall(client.request_sync, root, 'agent/cancel', { sessionId = w.session }, M.LEAVE_TIMEOUT)
      running[#running + 1] = w
    end
  end
  vim.wait(M.LEAVE_TIMEOUT, function()
    for _, w in ipairs(running) do
      if w.busy then
        return false
      end
    end
    return true
  end, 10)
end

return M

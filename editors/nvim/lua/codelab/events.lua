-- What an agent/status event adds to the chat: a line for people, said once, or nothing
-- when the chat already shows it (the plan view, the turn's result, the classification).
-- Event names never reach the chat.
local M = {}

local STATUS = {
  state_changed = false,
  nudged = false,
  plan_created = false, -- the plan itself is shown
  subtask_completed = false, -- ticked in the plan, with its result
  subtask_failed = false, -- the turn's result says why
  plan_failed = false,
  plan_completed = false, -- the turn's result is the plan's summary
  plan_rejected = false, -- the turn's result says so
  classified = function(p)
    return 'routed to ' .. (p.detail or '?')
  end,
  agent_switched = function(p, w)
    local data = p.data or {}
    local plan = w.plan_id and w.plans[w.plan_id]
    if data.from == 'orchestrator' or (plan and plan.status == 'in_progress') then
      return nil -- the classification, or the subtask that starts, says where the task went
    end
    if data.from and data.to then
      return ('%s hands over to %s%s'):format(data.from, data.to, data.reason and (': ' .. data.reason) or '')
    end
    return p.detail
  end,
  plan_paused = function()
    return 'plan paused: :CodelabResume continues it'
  end,
}

--- The chat's line for the agent/status notification `p` of workspace `w`, or nil.
function M.line(w, p)
  local show = STATUS[p.event]
  local text
  if show == nil then
    text = p.detail -- an event this plugin does not know: its line for people
  elseif show then
    text = show(p, w)
  end
  if text and vim.trim(text) ~= '' then
    return text
  end
end

return M

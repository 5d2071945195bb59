-- The :Codelab* commands. They load the plugin's modules only when first used, so the
-- plugin costs nothing at start-up and works with or without setup().
if vim.g.loaded_codelab then
  return
end
vim.g.loaded_codelab = true

if vim.fn.has('nvim-0.10') == 0 then
  vim.notify('codelab needs Neovim 0.10 or later', vim.log.levels.WARN)
  return
end

local function codelab()
  return require('codelab')
end

local function command(name, fn, opts)
  opts.force = true
  vim.api.nvim_create_user_command(name, fn, opts)
end

local MODES = { 'auto', 'code', 'architect', 'debug', 'explain' }

command('Codelab', function(o)
  codelab().command(o.args)
end, { nargs = '*', desc = 'Send a task (or an answer) to codelab: [mode=NAME] task' })

command('CodelabMode', function(o)
  local mode, task = o.args:match('^(%S+)%s+(.+)$')
  if not mode then
    vim.notify('codelab: usage :CodelabMode {mode} {task}', vim.log.levels.ERROR)
    return
  end
  codelab().ask(task, { mode = mode })
end, {
  nargs = '+',
  desc = 'Send a task to one codelab agent: {mode} {task}',
  complete = function(lead, line)
    if #vim.split(line, '%s+', { trimempty = false }) <= 2 then
      return vim.tbl_filter(function(m)
        return vim.startswith(m, lead)
      end, MODES)
    end
    return {}
  end,
})

command('CodelabNew', function(o)
  if o.args == '' then
    return codelab().new()
  end
  codelab().command(o.args, { new = true })
end, { nargs = '*', desc = 'Start a new codelab session [with a task]' })

command('CodelabApprove', function()
  codelab().approve()
end, { nargs = 0, desc = 'Approve the codelab call waiting in the chat, else the plan' })

command('CodelabApproveAlways', function()
  codelab().approve_always()
end, { nargs = 0, desc = 'Approve the codelab call waiting, and the same for the rest of the session' })

command('CodelabReject', function(o)
  codelab().reject(o.args)
end, { nargs = '*', desc = 'Reject the codelab call waiting, else the plan [feedback]' })

command('CodelabDiff', function()
  codelab().diff()
end, { nargs = 0, desc = 'Show the diff of the codelab call waiting for approval' })

command('CodelabRevise', function(o)
  codelab().revise(o.args)
end, { nargs = '*', desc = 'Ask for a revision of the codelab plan {feedback}' })

command('CodelabCancel', function()
  codelab().cancel()
end, { nargs = 0, desc = 'Cancel the running codelab turn' })

command('CodelabResume', function(o)
  codelab().resume(o.args)
end, { nargs = '?', desc = 'Resume the last (or the given) codelab session' })

command('CodelabSessions', function()
  codelab().sessions()
end, { nargs = 0, desc = 'Pick a codelab session to resume' })

command('CodelabRetry', function()
  codelab().retry()
end, { nargs = 0, desc = 'Run the failed subtask of the plan again' })

command('CodelabSkip', function()
  codelab().skip()
end, { nargs = 0, desc = 'Skip the failed subtask of the plan' })

command('CodelabChat', function()
  codelab().chat()
end, { nargs = 0, desc = 'Open the codelab chat of this workspace' })

command('CodelabStop', function()
  codelab().stop()
end, { nargs = 0, desc = 'Stop the codelab sidecar of this workspace' })

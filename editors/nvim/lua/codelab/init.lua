-- codelab: the Neovim client of the codelab-agent sidecar.
--
-- The public API behind the :Codelab* commands. Every function acts on the workspace
-- of the current buffer (see M.root), which has its own sidecar, session and chat.
local chat = require('codelab.chat')
local client = require('codelab.client')
local config = require('codelab.config')
local session = require('codelab.session')
local tools = require('codelab.tools')

local M = {}

M.MODES = { 'auto', 'code', 'architect', 'debug', 'explain' }

local function is_mode(name)
  return vim.tbl_contains(M.MODES, name)
end

function M.setup(opts)
  config.setup(opts)
  client.reconfigure()
  return M
end

--- The workspace root of a buffer: a chat buffer's own root, else `root_dir`, else the
--- nearest `root_markers` directory, else the current directory. Always a real path.
function M.root(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local chat_root = chat.root_of(bufnr)
  if chat_root then
    return chat_root
  end
  local o = config.options
  local root
  if type(o.root_dir) == 'function' then
    root = o.root_dir(bufnr)
  elseif type(o.root_dir) == 'string' then
    root = o.root_dir
  elseif o.root_markers and #o.root_markers > 0 and vim.bo[bufnr].buftype == '' then
    if vim.api.nvim_buf_get_name(bufnr) ~= '' then
      root = vim.fs.root(bufnr, o.root_markers)
    end
  end
  root = root or vim.fn.getcwd()
  if root:find('^[~$]') then
    root = vim.fn.expand(root)
  end
  return tools.root(vim.fn.fnamemodify(root, ':p'))
end

local function workspace(opts)
  return session.workspace((opts and opts.root) or M.root(0))
end

--- Sends a task (or the answer to a question) to the current session of the workspace.
--- opts: { mode = 'auto'|'code'|..., new = true (a fresh session), root = path }
function M.ask(text, opts)
  opts = opts or {}
  local mode = opts.mode or config.options.default_mode
  if not is_mode(mode) then
    vim.notify(('codelab: unknown mode %q (one of %s)'):format(mode, table.concat(M.MODES, ', ')), vim.log.levels.ERROR)
    return
  end
  if not text or vim.trim(text) == '' then
    vim.notify('codelab: give a task', vim.log.levels.ERROR)
    return
  end
  session.ask(workspace(opts), text, mode, opts.new)
end

M.USAGE = 'usage: :Codelab [mode=NAME] {task}'

--- `:Codelab [mode=NAME] task`; without a task, says how to use it.
function M.command(args, opts)
  opts = opts or {}
  if vim.trim(args or '') == '' then
    vim.notify('codelab: ' .. M.USAGE, vim.log.levels.WARN)
    return
  end
  local mode, rest = args:match('^%s*mode=(%S+)%s+(.*)$')
  if mode then
    opts.mode = mode
    args = rest
  end
  M.ask(args, opts)
end

--- Approves what waits for the user: the tool call shown in the chat, else the plan.
function M.approve(opts)
  local w = workspace(opts)
  if session.answer_call(w, 'approve') then
    return
  end
  if w.result and w.result.status == 'awaiting_tool_results' then
    vim.notify('codelab: no call waits for your approval', vim.log.levels.WARN)
    return
  end
  session.decide(w, 'approve')
end

--- Approves the tool call waiting in the chat, and the same tool (for a command, the same
--- command prefix) without asking for the rest of the session.
function M.approve_always(opts)
  if not session.answer_call(workspace(opts), 'always') then
    vim.notify('codelab: no call waits for your approval', vim.log.levels.WARN)
  end
end

--- Rejects what waits for the user (the call in the chat, else the plan) with optional
--- feedback for the model. opts.ask: without feedback, ask for it (Escape answers nothing).
function M.reject(feedback, opts)
  opts = opts or {}
  local w = workspace(opts)
  local call = session.asking(w)
  local function decide(text)
    text = (text and vim.trim(text) ~= '') and vim.trim(text) or nil
    if call then
      if not session.answer_call(w, 'reject', text) then
        vim.notify('codelab: the call was answered or cancelled meanwhile', vim.log.levels.WARN)
      end
    else
      session.decide(w, 'reject', text)
    end
  end
  if (feedback == nil or feedback == '') and opts.ask then
    local what = call and require('codelab.ui').summary(call.params) or 'the plan'
    vim.ui.input({ prompt = ('Reject %s. Feedback for the model (optional): '):format(what) }, function(text)
      if text ~= nil then
        decide(text)
      end
    end)
    return
  end
  decide(feedback)
end

--- Shows the diff of the call waiting for approval in a window beside the current one.
function M.diff(opts)
  local call = session.asking(workspace(opts))
  if not call or not call.diff then
    vim.notify('codelab: no change waits for your approval', vim.log.levels.WARN)
    return
  end
  if call.diff_win and vim.api.nvim_win_is_valid(call.diff_win) then
    vim.api.nvim_set_current_win(call.diff_win)
    return
  end
  call.diff_win = require('codelab.ui').show_diff(call.diff, require('codelab.ui').summary(call.params))
end

function M.revise(feedback, opts)
  local w = workspace(opts)
  if feedback and vim.trim(feedback) ~= '' then
    return session.decide(w, 'revise', feedback)
  end
  vim.ui.input({ prompt = 'What should change in the plan? ' }, function(text)
    if text and vim.trim(text) ~= '' then
      session.decide(w, 'revise', text)
    end
  end)
end

function M.cancel(opts)
  session.cancel(workspace(opts))
end

function M.resume(session_id, opts)
  session.resume(workspace(opts), (session_id and session_id ~= '') and session_id or nil)
end

function M.sessions(opts)
  session.pick_session(workspace(opts))
end

function M.retry(opts)
  session.subtask(workspace(opts), 'retry')
end

function M.skip(opts)
  session.subtask(workspace(opts), 'skip')
end

--- Leaves the current session: the next task starts a new one.
function M.new(opts)
  local w = workspace(opts)
  if w.busy then
    vim.notify('codelab: a turn is running in this workspace', vim.log.levels.WARN)
    return
  end
  w.session, w.result = nil, nil
  chat.note(w.root, 'new session')
  chat.open(w.root, true)
end

function M.chat(opts)
  chat.open(workspace(opts).root, true)
end

function M.stop(opts)
  client.stop(workspace(opts).root)
end

--- The state of a workspace (session id, last TurnResult, calls, plans), for scripts and tests.
function M.state(root)
  return session.workspace(root or M.root(0))
end

--- A short status for a statusline, e.g. `%{v:lua.require'codelab'.statusline()}`.
--- (Plan progress itself comes through vim.lsp.status().)
function M.statusline()
  return session.status(session.workspace(M.root(0)))
end

return M

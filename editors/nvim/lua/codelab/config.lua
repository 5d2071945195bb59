-- Options of the plugin, and the sidecar's initializationOptions built from them.
local M = {}

M.defaults = {
  -- How to start the sidecar. A list, as vim.lsp.start wants it.
  cmd = { 'codelab-agent', '--stdio' },
  -- Extra environment for the sidecar (e.g. { OPENROUTER_API_KEY = ... } if not exported).
  cmd_env = nil,
  -- The sidecar logs to stderr, which Neovim copies into its LSP log (as errors): keep
  -- it to warnings, or send it to a file of its own.
  log_level = 'warning',
  log_file = nil,
  -- The model and its endpoint; nil leaves the choice to the sidecar (flags, environment, defaults).
  model = nil,
  classifier_model = nil,
  -- The API base and the variable holding its key go on the sidecar's command line: the
  -- sidecar sends your key only to an API base given there (see the README's security model).
  api_base = nil,
  api_key_env = nil,
  timeout_seconds = nil,
  max_retries = nil,
  -- SQLite file of the sessions; nil: the sidecar's default (~/.local/share/codelab-agent/agent.db).
  database = nil,
  -- The sidecar's approval policy, e.g. { auto_approve = { write = true }, allowed_commands = { 'ls' } }.
  -- Keys may be snake_case or camelCase; they are sent camelCase.
  approval = nil,
  -- The sidecar's budgets, e.g. { max_steps = 50 }.
  limits = nil,
  -- Anything else to merge into initializationOptions, verbatim.
  init_options = nil,
  -- The workspace of a buffer: a path, or function(bufnr) -> path. Default: the nearest
  -- directory holding one of root_markers, else the current directory.
  root_dir = nil,
  root_markers = { '.git' },
  -- Mode of :Codelab when none is named: auto lets the sidecar classify the task.
  default_mode = 'auto',
  chat = {
    -- Open the chat window when a task starts.
    auto_open = true,
    -- Where: 'right', 'left', 'below', 'above', 'tab' or 'current'.
    position = 'right',
    size = 0.4, -- fraction of the editor (or columns/lines when > 1)
    -- Lines of a proposed change shown under its call in the chat (gd shows all of it).
    diff_lines = 40,
  },
  -- Show the diff of a proposed write under its call while it waits for approval.
  diff_preview = true,
  -- Ask the model's follow-up questions with vim.ui.input as soon as they come. Off by
  -- default: a prompt that opens by itself takes the keys being typed. Answer with
  -- :Codelab {answer} (or `i` in the chat).
  ask_questions = false,
  -- Where the last session of each workspace is remembered (for :CodelabResume after a restart).
  state_file = nil,
}

M.options = vim.deepcopy(M.defaults)

-- Lists must replace, not merge index by index as vim.tbl_deep_extend would.
local LISTS = { 'cmd', 'root_markers' }

function M.setup(opts)
  opts = opts or {}
  if type(opts) ~= 'table' then
    error('codelab.setup: opts must be a table, not ' .. type(opts), 2)
  end
  local merged = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts)
  for _, key in ipairs(LISTS) do
    if opts[key] ~= nil then
      merged[key] = opts[key]
    end
  end
  if type(merged.cmd) == 'string' then
    merged.cmd = { merged.cmd, '--stdio' }
  end
  M.options = merged
  return merged
end

--- The command that starts the sidecar: `cmd` with the logging flags.
function M.command()
  local o = M.options
  local cmd = vim.list_extend({}, o.cmd)
  if o.log_level then
    vim.list_extend(cmd, { '--log-level', o.log_level:upper() })
  end
  if o.log_file then
    vim.list_extend(cmd, { '--log-file', vim.fs.normalize(vim.fn.expand(o.log_file)) })
  end
  if o.api_base then
    vim.list_extend(cmd, { '--api-base', o.api_base })
  end
  if o.api_key_env then
    vim.list_extend(cmd, { '--api-key-env', o.api_key_env })
  end
  return cmd
end

function M.state_file()
  return M.options.state_file or vim.fs.joinpath(vim.fn.stdpath('data'), 'codelab', 'sessions.json')
end

local function camel(key)
  return (key:gsub('_(%l)', string.upper))
end

-- Converts the keys of dict-like tables to camelCase; list items (command prefixes) stay as they are.
local function camelize(value)
  if type(value) ~= 'table' or vim.islist(value) then
    return value
  end
  local out = {}
  for k, v in pairs(value) do
    out[type(k) == 'string' and camel(k) or k] = camelize(v)
  end
  return out
end
M.camelize = camelize

-- An empty Lua table is encoded as a JSON array, which the sidecar's strict params refuse:
-- leave empty tables out.
local function prune(value)
  if type(value) ~= 'table' or vim.islist(value) then
    return value
  end
  local out = {}
  for k, v in pairs(value) do
    v = prune(v)
    if not (type(v) == 'table' and next(v) == nil) then
      out[k] = v
    end
  end
  return out
end

function M.init_options(root)
  local o = M.options
  local database = o.database and vim.fs.normalize(vim.fn.expand(o.database)) or nil
  local options = {
    workspaceRoot = root,
    database = database,
    llm = {
      model = o.model,
      classifierModel = o.classifier_model,
      timeoutSeconds = o.timeout_seconds,
      maxRetries = o.max_retries,
    },
    approval = camelize(o.approval),
    limits = camelize(o.limits),
  }
  if o.init_options then
    options = vim.tbl_deep_extend('force', options, o.init_options)
  end
  return prune(options)
end

-- The live-changeable part, for workspace/didChangeConfiguration.
function M.live_settings()
  local options = M.init_options(nil)
  return prune({ llm = options.llm, approval = options.approval })
end

return M

-- One sidecar per workspace, hosted by Neovim's stock LSP client.
--
-- The sidecar is a language server as far as vim.lsp can tell, so vim.lsp.start starts
-- it, reuses it for every buffer of the same root, answers window/workDoneProgress/create
-- and keeps its $/progress for vim.lsp.status(). The agent/* methods go through the same
-- client: requests with client:request, notifications through `handlers`.
local config = require('codelab.config')

local M = {}

M.NAME = 'codelab'
-- The version of the wire contract this plugin speaks (capabilities.experimental.agent).
M.PROTOCOL_VERSION = 1
local NOTIFICATIONS = { 'agent/toolCall', 'agent/stream', 'agent/status', 'agent/planUpdate' }

local has_011 = vim.fn.has('nvim-0.11') == 1

-- client id -> root, and the callbacks waiting for a client to finish initializing.
local roots = {}
local waiting = {}

-- Set by session.lua: what to do with a notification, and with the exit of a sidecar.
M.on_notification = function() end
M.on_exit = function() end

-- One line on screen (see ui.one_line); the whole of it, a traceback maybe, in the LSP log.
local function report(err)
  vim.schedule(function()
    vim.lsp.log.error('codelab', tostring(err))
  end)
  require('codelab.ui').say(err, vim.log.levels.ERROR)
end

local function handler(method)
  return function(_, params, ctx)
    local root = roots[ctx.client_id]
    if not root then
      return
    end
    local ok, err = xpcall(M.on_notification, debug.traceback, root, method, params or {})
    if not ok then
      report(err)
    end
  end
end

local function handlers()
  local out = {}
  for _, method in ipairs(NOTIFICATIONS) do
    out[method] = handler(method)
  end
  return out
end

function M.root_of(client_id)
  return roots[client_id]
end

--- The running client of a workspace, if any.
--- (get_client_by_id, unlike get_clients, also knows the clients still initializing.)
function M.get(root)
  for id, client_root in pairs(roots) do
    local client = client_root == root and vim.lsp.get_client_by_id(id)
    if client then
      local stopped
      if has_011 then
        stopped = client:is_stopped()
      else
        stopped = client.is_stopped()
      end
      if not stopped then
        return client
      end
    end
  end
end

local function flush(client_id, client, err)
  local callbacks = waiting[client_id] or {}
  waiting[client_id] = nil
  for _, cb in ipairs(callbacks) do
    cb(client, err)
  end
end

-- How long a sidecar may take to initialize before the requests waiting for it give up.
-- (When `initialize` fails, e.g. on an option the sidecar refuses, Neovim reports the
-- error but keeps the client, uninitialized, for ever.)
M.INIT_TIMEOUT = 20000

local function stop(client, force)
  if has_011 then
    client:stop(force)
  else
    client.stop(force)
  end
end

local function abandon(client_id, why)
  if not waiting[client_id] then
    return
  end
  flush(client_id, nil, why)
  local client = vim.lsp.get_client_by_id(client_id)
  if client then
    stop(client, true)
  end
end

local function start(root)
  local options = config.options
  local cfg = {
    name = M.NAME,
    cmd = config.command(),
    cmd_cwd = root,
    cmd_env = options.cmd_env,
    root_dir = root,
    init_options = config.init_options(root),
    handlers = handlers(),
    on_init = function(client, result)
      local agent = vim.tbl_get(result or {}, 'capabilities', 'experimental', 'agent') or {}
      if agent.protocolVersion ~= M.PROTOCOL_VERSION then
        report(
          ('the sidecar speaks protocol version %s; this plugin speaks %d: update one of them'):format(
            tostring(agent.protocolVersion),
            M.PROTOCOL_VERSION
          )
        )
      end
      vim.schedule(function()
        flush(client.id, client)
      end)
    end,
    on_exit = function(code, signal, client_id)
      -- on_exit runs in a fast event: leave the API calls for later.
      vim.schedule(function()
        local was = roots[client_id]
        flush(client_id, nil, ('the sidecar exited (code %s, signal %s)'):format(code, signal))
        roots[client_id] = nil
        if was then
          M.on_exit(was, client_id, code, signal)
        end
      end)
    end,
  }
  -- No buffer is attached: the sidecar reads files through tool calls, and an attached
  -- buffer would stream every keystroke to it for nothing. vim.lsp.start still finds a
  -- running client of the same name and root (its reuse_client) before starting one.
  -- 0.10's vim.lsp.start cannot leave buffers alone; its start_client can.
  local id
  if has_011 then
    id = vim.lsp.start(cfg, { attach = false, silent = true })
    if not id then
      -- Started but not attached (a build without attach=false): find it by its root.
      for _, c in ipairs(vim.lsp.get_clients({ name = M.NAME, _uninitialized = true })) do
        if c.config.root_dir == root and not roots[c.id] then
          id = c.id
        end
      end
    end
  else
    id = vim.lsp.start_client(cfg)
  end
  if id then
    roots[id] = root
    local started = id
    vim.defer_fn(function()
      abandon(started, ('the sidecar did not initialize within %ds (see :messages)'):format(M.INIT_TIMEOUT / 1000))
    end, M.INIT_TIMEOUT)
  end
  return id
end

--- Calls cb(client) once the workspace's sidecar is initialized, starting it if needed,
--- or cb(nil, err) when it cannot start.
function M.with(root, cb)
  local client = M.get(root)
  if client and client.initialized then
    return cb(client)
  end
  local id = client and client.id or start(root)
  if not id then
    local cmd = type(config.options.cmd) == 'table' and config.options.cmd[1] or tostring(config.options.cmd)
    return cb(nil, ('cannot start the sidecar (%s): see :checkhealth codelab'):format(cmd))
  end
  waiting[id] = waiting[id] or {}
  table.insert(waiting[id], cb)
end

--- Sends a request; cb(err, result) runs on the main loop. Never blocks.
function M.request(root, method, params, cb)
  M.with(root, function(client, start_err)
    if not client then
      return cb({ code = -1, message = start_err })
    end
    local function on_response(err, result)
      cb(err, result)
    end
    local ok
    if has_011 then
      ok = client:request(method, params, on_response, 0)
    else
      ok = client.request(method, params, on_response, 0)
    end
    if not ok then
      cb({ code = -1, message = 'the sidecar is not running' })
    end
  end)
end

--- Sends a request and waits for its answer (at most `timeout` ms): for VimLeavePre,
--- where nothing asynchronous runs any more. Nil when the sidecar is not running.
function M.request_sync(root, method, params, timeout)
  local client = M.get(root)
  if not client or not client.initialized then
    return nil
  end
  if has_011 then
    return client:request_sync(method, params, timeout, 0)
  end
  return client.request_sync(method, params, timeout, 0)
end

--- Pushes the live-changeable settings (llm, approval) to every running sidecar.
function M.reconfigure()
  local settings = { settings = config.live_settings() }
  if next(settings.settings) == nil then
    return
  end
  for _, client in ipairs(vim.lsp.get_clients({ name = M.NAME })) do
    if has_011 then
      client:notify('workspace/didChangeConfiguration', settings)
    else
      client.notify('workspace/didChangeConfiguration', settings)
    end
  end
end

function M.stop(root, force)
  local client = M.get(root)
  if client then
    stop(client, force)
  end
end

return M

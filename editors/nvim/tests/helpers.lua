-- A minimal spec runner and the helpers the specs share.
local t = {}

t.plugin_dir = assert(os.getenv('CODELAB_PLUGIN_DIR'), 'run the specs through tests/run.lua')
t.tmp = assert(os.getenv('CODELAB_TEST_TMP'))
t.sidecar = vim.split(os.getenv('CODELAB_SIDECAR') or 'codelab-agent --stdio', '%s+', { trimempty = true })

local cases = {}

function t.test(name, fn)
  cases[#cases + 1] = { name = name, fn = fn }
end

local function out(text)
  io.stdout:write(text .. '\n')
  io.stdout:flush()
end
t.log = out

-- --- assertions ---------------------------------------------------------------------

function t.fail(message)
  error(message, 2)
end

function t.eq(expected, actual, what)
  if not vim.deep_equal(expected, actual) then
    error(
      ('%s:\n  expected: %s\n  actual:   %s'):format(
        what or 'values differ',
        vim.inspect(expected),
        vim.inspect(actual)
      ),
      2
    )
  end
end

function t.ok(value, what)
  if not value then
    error(what or 'expected a true value', 2)
  end
  return value
end

function t.contains(haystack, needle, what)
  if type(haystack) ~= 'string' or not haystack:find(needle, 1, true) then
    error(('%s: %q not found in:\n%s'):format(what or 'missing text', needle, tostring(haystack)), 2)
  end
end

-- --- the editor -----------------------------------------------------------------------

local loaded = false

--- Loads the plugin the way a plugin manager does, then setup() with test options.
function t.setup(opts)
  if not loaded then
    vim.opt.runtimepath:prepend(t.plugin_dir)
    vim.cmd('runtime! plugin/codelab.lua')
    loaded = true
  end
  local defaults = {
    cmd = t.sidecar,
    model = 'demo',
    database = t.tmp .. '/agent.db',
    chat = { auto_open = true },
  }
  return require('codelab').setup(vim.tbl_deep_extend('force', defaults, opts or {}))
end

local count = 0

--- A fresh workspace directory (a real path), made the current directory.
function t.workspace()
  count = count + 1
  local dir = t.tmp .. '/ws' .. count
  vim.fn.mkdir(dir, 'p')
  dir = vim.uv.fs_realpath(dir)
  vim.cmd.cd(vim.fn.fnameescape(dir))
  return dir
end

function t.write(path, text)
  vim.fn.mkdir(vim.fs.dirname(path), 'p')
  local f = assert(io.open(path, 'wb'))
  f:write(text)
  f:close()
end

function t.read(path)
  local f = io.open(path, 'rb')
  if not f then
    return nil
  end
  local text = f:read('*a')
  f:close()
  return text
end

function t.exists(path)
  return vim.uv.fs_stat(path) ~= nil
end

function t.state(root)
  return require('codelab').state(root)
end

function t.chat_text(root)
  return require('codelab.chat').text(root)
end

--- Waits (processing events) until predicate() is true, or fails with what was awaited.
function t.wait(predicate, what, timeout, root)
  local ok = vim.wait(timeout or 20000, predicate, 10)
  if not ok then
    local chat = root and ('\n--- chat:\n' .. t.chat_text(root)) or ''
    error(('timed out waiting for %s%s'):format(what or 'a condition', chat), 2)
  end
end

--- Waits until the workspace's turn rests with `status` (and no request is in flight).
-- Run one client tool as the sidecar's call would, and wait for its (status, content).
function t.run_tool(root, name, args)
  local tools = require('codelab.tools')
  local status, content
  tools.run(root, name, args, function(s, c)
    status, content = s, c
  end)
  t.wait(function()
    return status ~= nil
  end, name, 15000)
  return status, content
end

function t.wait_status(root, status, timeout)
  local ok = vim.wait(timeout or 20000, function()
    local w = t.state(root)
    return not w.busy and not w.cancel and w.result ~= nil and w.result.status == status
  end, 10)
  if not ok then
    local w = t.state(root)
    error(
      ('timed out waiting for status %s (now %s, busy %s)\n--- chat:\n%s'):format(
        status,
        w.result and w.result.status or 'none',
        tostring(w.busy ~= nil),
        t.chat_text(root)
      ),
      2
    )
  end
  return t.state(root).result
end

-- --- vim.ui, answered by the spec -----------------------------------------------------------

t.HOLD = {} -- an answer that keeps the dialog open: the spec calls the callback later

local original_ui = { select = vim.ui.select, input = vim.ui.input }

--- Replaces vim.ui.select / vim.ui.input. `select(items, opts)` and `input(opts)` return the
--- answer (nil = dismissed, t.HOLD = left open); a handler that is not a function is the
--- answer to every call. Every call is recorded in t.ui.
function t.answer_ui(handlers)
  local function answer_of(handler, ...)
    if type(handler) == 'function' then
      return handler(...)
    end
    return handler
  end
  t.ui = { selects = {}, inputs = {} }
  vim.ui.select = function(items, opts, cb)
    local record = { items = items, opts = opts, cb = cb, windows = t.floating_text() }
    table.insert(t.ui.selects, record)
    local answer = answer_of(handlers.select, items, opts, record)
    if answer ~= t.HOLD then
      vim.schedule(function()
        cb(answer)
      end)
    end
  end
  vim.ui.input = function(opts, cb)
    local record = { opts = opts, cb = cb }
    table.insert(t.ui.inputs, record)
    local answer = answer_of(handlers.input, opts, record)
    if answer ~= t.HOLD then
      vim.schedule(function()
        cb(answer)
      end)
    end
  end
end

--- Answers the tool calls that wait for approval in the chat, as the user does with
--- ga / gA / gr there. `decide(params, record)` (or a constant) returns 'approve',
--- 'always', 'reject' (and the feedback), or t.HOLD to leave the call waiting (the spec
--- answers later with t.decide). Every call asked is recorded in t.asked, with the chat's
--- text at that moment.
function t.answer_calls(decide, feedback)
  t.asked = {}
  local group = vim.api.nvim_create_augroup('codelab.spec.calls', { clear = true })
  vim.api.nvim_create_autocmd('User', {
    group = group,
    pattern = 'CodelabApproval',
    callback = function(ev)
      local params, root = ev.data.call, ev.data.root
      local record = { params = params, root = root, chat = t.chat_text(root) }
      table.insert(t.asked, record)
      local decision, text = decide, feedback
      if type(decide) == 'function' then
        decision, text = decide(params, record)
      end
      if decision ~= t.HOLD then
        vim.schedule(function()
          t.decide(root, decision, text)
        end)
      end
    end,
  })
end

--- Answers the call waiting in the chat of `root`, as ga / gA / gr do.
function t.decide(root, decision, feedback)
  local codelab = require('codelab')
  local opts = { root = root }
  if decision == 'approve' then
    codelab.approve(opts)
  elseif decision == 'always' then
    codelab.approve_always(opts)
  elseif decision == 'reject' then
    codelab.reject(feedback, opts)
  else
    error('unknown decision ' .. tostring(decision))
  end
end

--- Wait until `n` calls have waited for approval.
function t.wait_asked(n)
  t.wait(function()
    return #t.asked == n
  end, n == 1 and 'a call waiting for approval' or (n .. ' calls waiting for approval'))
end

--- The text of the floating windows open now (the diff shown during an approval).
function t.floating_text()
  local texts = {}
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(win).relative ~= '' then
      local buf = vim.api.nvim_win_get_buf(win)
      texts[#texts + 1] = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n')
    end
  end
  return table.concat(texts, '\n')
end

--- The sidecar processes of this editor.
function t.clients()
  return vim.lsp.get_clients({ name = 'codelab' })
end

--- SIGKILLs the sidecar of `root`, as a crash would, and waits until Neovim has noticed.
function t.kill_sidecar(root)
  local client = require('codelab.client')
  local id = t.ok(client.get(root), 'no sidecar for ' .. root).id
  -- vim.lsp keeps no pid; the sidecar is this editor's only child process.
  local children = vim.api.nvim_get_proc_children(vim.fn.getpid())
  t.eq(1, #children, 'child processes of the editor')
  vim.uv.kill(children[1], 'sigkill')
  t.wait(function()
    return client.root_of(id) == nil -- the plugin has seen the exit
  end, 'the sidecar to exit')
end

--- Stops every sidecar and waits for them to exit.
function t.stop_all()
  local all = { _uninitialized = true }
  for _, c in ipairs(vim.lsp.get_clients(all)) do
    c:stop()
  end
  vim.wait(5000, function()
    return #vim.lsp.get_clients(all) == 0
  end, 20)
  for _, c in ipairs(vim.lsp.get_clients(all)) do
    c:stop(true)
  end
end

-- --- a second editor, typed into ---------------------------------------------------------

local embedded = {}
local embedded_stderr = {}

--- What the embedded editors wrote on stderr (for a failing spec's report).
function t.embedded_stderr()
  return table.concat(embedded_stderr, '\n')
end

--- Starts another Neovim (`--embed --headless`) in `dir` with the plugin set up as
--- t.setup does. Unlike the spec's own editor, it runs Neovim's main loop: the keys sent
--- with e.input are read and executed as if typed, by whatever has the keyboard (a
--- prompt, if one is open). Its vim.ui.select/input are Neovim's own, counted in
--- `_G.codelab_prompts`. e.lua refuses to run while the editor is blocked in a prompt.
function t.embed(dir, opts)
  local chan = vim.fn.jobstart({
    vim.v.progpath,
    '--embed',
    '--headless',
    '-u',
    'NONE',
    '--noplugin',
    '-i',
    'NONE',
    '-n',
  }, {
    rpc = true,
    cwd = dir,
    on_stderr = function(_, data)
      embedded_stderr[#embedded_stderr + 1] = table.concat(data, '\n')
    end,
    on_exit = function(_, code)
      embedded_stderr[#embedded_stderr + 1] = ('(an embedded editor exited with %d)'):format(code)
    end,
  })
  t.ok(chan > 0, 'the embedded editor did not start')
  local e = { chan = chan, dir = dir }
  embedded[#embedded + 1] = e

  function e.mode()
    return vim.rpcrequest(chan, 'nvim_get_mode')
  end
  -- A notification: keys that quit the editor end it before a response could come back.
  function e.input(keys)
    vim.rpcnotify(chan, 'nvim_input', keys)
  end
  function e.lua(code, ...)
    local mode = e.mode()
    if mode.blocking then
      error(('the editor waits at a prompt (mode %s)'):format(mode.mode), 2)
    end
    return vim.rpcrequest(chan, 'nvim_exec_lua', code, { ... })
  end
  --- Waits until the Lua `predicate` (an expression) is true in the embedded editor.
  function e.wait(predicate, what, timeout)
    local last
    local ok = vim.wait(timeout or 20000, function()
      if e.mode().blocking then
        return false
      end
      last = vim.rpcrequest(chan, 'nvim_exec_lua', 'return ' .. predicate, {})
      return last ~= nil and last ~= vim.NIL and last ~= false
    end, 50)
    if not ok then
      local chat = e.mode().blocking and '(blocked at a prompt)' or e.chat()
      error(('timed out waiting for %s\n--- chat:\n%s'):format(what or predicate, chat), 2)
    end
  end
  function e.state(expr)
    return e.lua('local w = require("codelab").state(); return ' .. expr)
  end
  function e.chat()
    return e.lua('return require("codelab.chat").text(require("codelab").state().root)')
  end
  --- Waits until the turn rests with `status`.
  function e.wait_status(status, timeout)
    e.wait(('spec.rests(%q)'):format(status), 'status ' .. status, timeout)
  end
  --- Waits until a call (other than `except`) waits for approval in the chat; returns its callId.
  function e.wait_asking(except)
    e.wait(('spec.asking_other(%q)'):format(except or ''), 'a call waiting for approval')
    return e.state('require("codelab.session").asking(w).params.callId')
  end
  function e.stop()
    if vim.fn.jobwait({ chan }, 0)[1] == -1 then
      pcall(vim.rpcnotify, chan, 'nvim_command', 'qa!')
      if vim.fn.jobwait({ chan }, 5000)[1] == -1 then
        vim.fn.jobstop(chan)
      end
    end
  end
  --- Fails unless every notification so far fitted on one line of the command line (a
  --- longer one opens the "Press ENTER" prompt, which takes the next key typed).
  function e.notes_fit()
    local notes = e.lua('return _G.codelab_notes')
    t.ok(#notes > 0, 'no notification was recorded')
    for _, note in ipairs(notes) do
      t.ok(not note.msg:find('\n'), 'a notification of several lines: ' .. note.msg)
      t.ok(vim.fn.strdisplaywidth(note.msg) <= note.room, 'a notification wider than the command line: ' .. note.msg)
    end
  end
  --- Waits for the editor to exit (after a typed :qa); returns its exit code.
  function e.exited(timeout)
    return vim.fn.jobwait({ chan }, timeout or 10000)[1]
  end

  local options = vim.tbl_deep_extend('force', {
    cmd = t.sidecar,
    model = 'demo',
    database = t.tmp .. '/agent.db',
    chat = { auto_open = true },
  }, opts or {})
  e.lua(
    [[
    local plugin_dir, options = ...
    vim.opt.runtimepath:prepend(plugin_dir)
    vim.cmd('runtime! plugin/codelab.lua')
    vim.cmd('syntax on')
    _G.codelab_prompts = 0
    _G.codelab_notes = {}
    local notify = vim.notify
    vim.notify = function(msg, ...)
      table.insert(_G.codelab_notes, { msg = msg, room = vim.v.echospace })
      return notify(msg, ...)
    end
    for _, name in ipairs({ 'select', 'input' }) do
      local original = vim.ui[name]
      vim.ui[name] = function(...)
        _G.codelab_prompts = _G.codelab_prompts + 1
        return original(...)
      end
    end
    require('codelab').setup(options)
    -- Predicates for e.wait.
    _G.spec = {
      rests = function(status)
        local w = require('codelab').state()
        return not w.busy and not w.cancel and w.result ~= nil and w.result.status == status
      end,
      asking_other = function(except)
        local call = require('codelab.session').asking(require('codelab').state())
        return call ~= nil and call.params.callId ~= except
      end,
      has_filetype = function(filetype)
        return vim.iter(vim.api.nvim_list_wins()):any(function(win)
          return vim.bo[vim.api.nvim_win_get_buf(win)].filetype == filetype
        end)
      end,
      buffer_text = function(name)
        return table.concat(vim.fn.getbufline(vim.fn.bufnr(name), 1, '$'), '\n')
      end,
    }
  ]],
    t.plugin_dir,
    options
  )
  return e
end

function t.stop_embedded()
  for _, e in ipairs(embedded) do
    e.stop()
  end
  embedded = {}
end

-- --- installation, as a plugin manager does it ---------------------------------------------

--- The first ```lua block of the plugin's README.md that contains `needle`.
function t.readme_block(needle)
  local text = assert(t.read(t.plugin_dir .. '/README.md'))
  for block in text:gmatch('```lua\n(.-)```') do
    if block:find(needle, 1, true) then
      return block
    end
  end
  error('no lua block in README.md with ' .. needle, 2)
end

--- What lazy.nvim does with a spec once one of its `cmd` runs: put the plugin on the
--- runtimepath, source its plugin/ files, then call config(plugin, opts) or setup(opts).
function t.lazy_load(spec, dir)
  local plugin = { dir = dir, name = vim.fs.basename(dir) }
  vim.opt.runtimepath:prepend(dir)
  for _, file in ipairs(vim.fn.glob(dir .. '/plugin/**/*.{lua,vim}', false, true)) do
    vim.cmd.source(vim.fn.fnameescape(file))
  end
  if type(spec.config) == 'function' then
    spec.config(plugin, spec.opts or {})
  else
    require('codelab').setup(spec.opts or {})
  end
end

-- --- the runner -----------------------------------------------------------------------

function t.run()
  local failures = 0
  for _, case in ipairs(cases) do
    local start = vim.uv.hrtime()
    local ok, err = xpcall(case.fn, debug.traceback)
    vim.ui.select, vim.ui.input = original_ui.select, original_ui.input
    pcall(vim.api.nvim_del_augroup_by_name, 'codelab.spec.calls')
    t.stop_embedded()
    t.stop_all()
    embedded_stderr = {}
    local seconds = (vim.uv.hrtime() - start) / 1e9
    if ok then
      out(('ok - %s (%.2fs)'):format(case.name, seconds))
    else
      failures = failures + 1
      out(('not ok - %s (%.2fs)\n%s'):format(case.name, seconds, tostring(err)))
      if #embedded_stderr > 0 then
        out('--- embedded editors:\n' .. table.concat(embedded_stderr, '\n'))
      end
    end
  end
  out(('%d test(s), %d failed'):format(#cases, failures))
  return failures
end

return t

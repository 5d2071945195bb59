-- The client tools, executed with Neovim's own APIs inside one workspace.
--
-- Files loaded in a buffer are read and changed through the buffer: the model sees the
-- unsaved text the user sees, and a change it makes is one undo step there. Every path
-- is resolved (symlinks and `..` included) and refused when it leaves the workspace;
-- files are then opened and written so that a symlink swapped in after the check is not
-- followed (codelab.files).
local files = require('codelab.files')
local search = require('codelab.search')

local M = {}

local uv = vim.uv or vim.loop

M.MAX_OUTPUT = 64 * 1024
M.DEFAULT_TIMEOUT = 120

local fail, is_failure = files.fail, files.is_failure

-- The workspace helpers, for the callers of this module.
M.root, M.path = files.root, files.path

-- --- the tools -------------------------------------------------------------------------

local tools = {}

function tools.read_file(ctx, args)
  local full = M.path(ctx.root, args.path)
  local text = files.current_text(full, args.path)
  if text:find('\0', 1, true) then
    fail(('%s is a binary file'):format(args.path))
  end
  if args.start_line == nil and args.end_line == nil then
    return text
  end
  local lines = files.text_lines(text)
  local first = math.max(tonumber(args.start_line) or 1, 1)
  local last = math.min(tonumber(args.end_line) or #lines, #lines)
  local out = {}
  for i = first, last do
    out[#out + 1] = lines[i]
  end
  return #out > 0 and table.concat(out, '\n') .. '\n' or ''
end

function tools.write_file(ctx, args)
  local full = M.path(ctx.root, args.path)
  if type(args.content) ~= 'string' then
    fail('content must be a string')
  end
  local real_root = files.root(ctx.root)
  local buf = files.find_buffer(full)
  if buf then
    files.check_write_target(real_root, full, args.path, buf) -- before the buffer changes
    -- One call, so that one `u` takes the whole change back.
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, files.text_lines(args.content))
    files.write_buffer(real_root, buf, full, args.path)
  else
    files.write_disk(real_root, full, args.content, args.path)
  end
  return ('wrote %d bytes to %s'):format(#args.content, args.path)
end

function tools.edit_file(ctx, args)
  local full = M.path(ctx.root, args.path)
  local real_root = files.root(ctx.root)
  local text, buf = files.current_text(full, args.path)
  local new_text, at = files.edited(text, args.path, args.old_text, args.new_text)
  if buf then
    files.check_write_target(real_root, full, args.path, buf) -- before the buffer changes
    local stop = at + #args.old_text
    if stop >= #text then
      -- The match takes the last newline, which is not part of any buffer line.
      vim.api.nvim_buf_set_lines(buf, 0, -1, false, files.text_lines(new_text))
    else
      -- Replace just the matched range: marks, folds and the cursor elsewhere stay put.
      local start_row, start_col = files.position(text, at)
      local end_row, end_col = files.position(text, stop)
      local replacement = vim.split(args.new_text, '\n', { plain = true })
      vim.api.nvim_buf_set_text(buf, start_row, start_col, end_row, end_col, replacement)
    end
    files.write_buffer(real_root, buf, full, args.path)
  else
    files.write_disk(real_root, full, new_text, args.path)
  end
  return ('edited %s'):format(args.path)
end

function tools.create_directory(ctx, args)
  local full = M.path(ctx.root, args.path)
  local stat = uv.fs_stat(full)
  if stat and stat.type ~= 'directory' then
    fail(('%s exists and is not a directory'):format(args.path))
  end
  files.make_dirs(files.root(ctx.root), full, args.path)
  return ('created %s'):format(args.path)
end

tools.list_files = search.list_files

-- Asynchronous tools call done(status, content) themselves; the others return content.
local async = {}

async.search_in_code = search.search_in_code

local function tail(text, max)
  return #text > max and text:sub(-max) or text
end

function async.execute_command(ctx, args, done)
  if type(args.command) ~= 'string' or args.command == '' then
    fail('command must be a non-empty string')
  end
  local cwd = M.path(ctx.root, args.cwd or '.')
  if (uv.fs_stat(cwd) or {}).type ~= 'directory' then
    fail(('%s is not a directory'):format(args.cwd or '.'))
  end
  local seconds = tonumber(args.timeout_seconds) or M.DEFAULT_TIMEOUT
  local shell = vim.fn.has('win32') == 1 and { 'cmd.exe', '/c', args.command } or { 'sh', '-c', args.command }
  local timed_out = false
  local timer
  -- detach: the command leads its own process group, so a timeout ends its children too.
  local proc = vim.system(shell, { cwd = cwd, text = true, detach = true }, function(res)
    -- Runs in a fast event, outside the caller's error handling: never let it throw.
    local ok, err = pcall(function()
      if timer and not timer:is_closing() then
        timer:stop()
        timer:close()
      end
      local output = tail((res.stdout or '') .. (res.stderr or ''), M.MAX_OUTPUT)
      if timed_out then
        return done('error', ('the command timed out after %ss\n%s'):format(seconds, output))
      end
      done('success', ('exit code %d\n%s'):format(res.code, output))
    end)
    if not ok then
      done('error', 'reading the command output failed: ' .. tostring(err))
    end
  end)
  timer = uv.new_timer()
  timer:start(math.floor(seconds * 1000), 0, function()
    timed_out = true
    pcall(uv.kill, -proc.pid, 'sigkill')
    pcall(uv.kill, proc.pid, 'sigkill')
  end)
end

--- Why a call cannot succeed, checked before the user is asked anything: a path outside
--- the workspace, or an edit whose old_text is not there exactly once.
function M.precheck(root, name, args)
  local ok, err = pcall(function()
    if name == 'execute_command' then
      M.path(root, args.cwd or '.')
    elseif name == 'search_in_code' or name == 'list_files' then
      M.path(root, args.path or '.')
    elseif name == 'edit_file' then
      local full = M.path(root, args.path)
      files.edited(files.current_text(full, args.path), args.path, args.old_text, args.new_text)
    elseif tools[name] then
      M.path(root, args.path)
    end
  end)
  if ok then
    return nil
  end
  return is_failure(err) and err.message or tostring(err)
end

--- `text` cut to at most `max` bytes, at a line end when there is one (never inside a
--- UTF-8 sequence), with a note saying so.
function M.truncate(text, max)
  if #text <= max then
    return text
  end
  local note = ('… (truncated: %d bytes in all)'):format(#text)
  local cut = text:sub(1, math.max(max - #note - 1, 0))
  local line_end = cut:match('.*()\n')
  if line_end and line_end > #cut / 2 then
    cut = cut:sub(1, line_end)
  else
    while #cut > 0 and cut:byte(#cut) >= 0x80 and cut:byte(#cut) < 0xC0 do
      cut = cut:sub(1, -2) -- a continuation byte: back off to the sequence's start
    end
    if #cut > 0 and cut:byte(#cut) >= 0xC0 then
      cut = cut:sub(1, -2)
    end
  end
  return cut .. (cut:sub(-1) == '\n' and '' or '\n') .. note
end

--- Runs a tool and calls done(status, content) exactly once, whatever happens.
function M.run(root, name, args, done)
  local answered = false
  local function finish(status, content)
    if answered then
      return
    end
    answered = true
    done(status, content)
  end
  -- Callbacks of vim.system run in a fast event, where most of the API is off limits.
  local function finish_later(status, content)
    vim.schedule(function()
      finish(status, content)
    end)
  end
  local ctx = { root = root }
  local ok, result = xpcall(function()
    if type(args) ~= 'table' then
      fail('arguments must be an object')
    end
    if async[name] then
      async[name](ctx, args, finish_later)
      return nil
    end
    if not tools[name] then
      fail(('unknown tool %s'):format(tostring(name)))
    end
    return tools[name](ctx, args)
  end, function(err)
    if is_failure(err) then
      return err
    end
    return debug.traceback(tostring(err), 2)
  end)
  if not ok then
    local message = is_failure(result) and result.message or ('the editor failed to run %s: %s'):format(name, result)
    finish('error', message)
  elseif not async[name] then
    finish('success', result)
  end
end

--- A unified diff of what a write would change, for the approval prompt; nil for other tools.
function M.preview(root, name, args)
  if name ~= 'write_file' and name ~= 'edit_file' then
    return nil
  end
  local ok, diff = pcall(function()
    local full = M.path(root, args.path)
    local old = ''
    if files.find_buffer(full) or uv.fs_stat(full) then
      old = files.current_text(full, args.path)
    end
    local new = name == 'write_file' and args.content or files.edited(old, args.path, args.old_text, args.new_text)
    local differ = (vim.text and vim.text.diff) or vim.diff
    local hunks = differ(old, new, { result_type = 'unified', ctxlen = 3 })
    if hunks == '' then
      return '(no change)'
    end
    return ('--- a/%s\n+++ b/%s\n%s'):format(args.path, args.path, hunks)
  end)
  return ok and diff or nil
end

return M

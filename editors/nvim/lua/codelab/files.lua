-- Files as the user sees them, inside one workspace: the workspace boundary (paths
-- resolved through symlinks and `..`), loaded buffers (their unsaved text wins over the
-- disk's), and the text operations the tools share.
local M = {}

local uv = vim.uv or vim.loop

-- Tool errors carry this marker so they are told apart from bugs in the plugin.
local Failure = {}
Failure.__index = Failure
Failure.__tostring = function(self)
  return self.message
end

function M.fail(message)
  error(setmetatable({ message = message }, Failure), 0)
end

function M.is_failure(err)
  return getmetatable(err) == Failure
end

-- --- paths ---------------------------------------------------------------------------

M.PATH_MAX = 4096
M.NAME_MAX = 255
M.MAX_LINKS = 40

local function join(dir, name)
  return dir == '/' and '/' .. name or dir .. '/' .. name
end
M.join = join

-- Resolves a path component by component, like Python's os.path.realpath (strict=False):
-- every symlink is followed, a dangling one too (to where it points), so `link/..` goes
-- where the link leads and a dangling link to a file outside resolves outside.
local function resolve_abs(path, budget)
  budget = budget or { links = M.MAX_LINKS }
  local current = '/'
  local parts = {}
  for part in path:gmatch('[^/]+') do
    parts[#parts + 1] = part
  end
  for i, part in ipairs(parts) do
    if part == '..' then
      current = vim.fs.dirname(current)
    elseif part ~= '.' then
      local nxt = join(current, part)
      local stat = uv.fs_lstat(nxt)
      local target = stat and stat.type == 'link' and uv.fs_readlink(nxt)
      if target and budget.links > 0 then
        budget.links = budget.links - 1
        current = resolve_abs(target:sub(1, 1) == '/' and target or join(current, target), budget)
      elseif target then
        -- A symlink loop: left unresolved, like realpath does (opening it fails).
        local rest = table.concat(parts, '/', i + 1)
        return rest == '' and nxt or join(nxt, rest)
      else
        current = nxt
      end
    end
  end
  return current
end
M.resolve = resolve_abs

function M.root(root)
  return uv.fs_realpath(root) or vim.fs.normalize(root)
end

--- `raw` when it can name a file; a failure saying why not otherwise.
function M.checked(raw)
  if type(raw) ~= 'string' or raw == '' then
    M.fail('path must be a non-empty string')
  end
  if raw:find('\0', 1, true) then
    M.fail(('the path %q contains a NUL byte'):format(raw))
  end
  if #raw >= M.PATH_MAX then
    M.fail(('the path %q… is too long'):format(raw:sub(1, 60)))
  end
  for part in raw:gmatch('[^/]+') do
    if #part > M.NAME_MAX then
      M.fail(('the path %q… is too long'):format(raw:sub(1, 60)))
    end
  end
  return raw
end

--- The real path of `raw` (symlinks and `..` resolved) inside `root`, or a failure when
--- it is outside.
function M.path(root, raw)
  M.checked(raw)
  local real_root = M.root(root)
  local expanded = raw:gsub('^~', vim.env.HOME or '~')
  local absolute = expanded:sub(1, 1) == '/' and expanded or join(real_root, expanded)
  local full = resolve_abs(absolute)
  if not M.inside(real_root, full) then
    M.fail(('%s is outside the workspace %s'):format(raw, real_root))
  end
  return full
end

function M.inside(real_root, full)
  return real_root == '/' or full == real_root or full:sub(1, #real_root + 1) == real_root .. '/'
end

function M.relative(real_root, full)
  if full == real_root then
    return '.'
  end
  return full:sub(#real_root + 2)
end

-- --- buffers -------------------------------------------------------------------------

--- The loaded buffer showing `full`, if any.
function M.find_buffer(full)
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.bo[buf].buftype == '' then
      local name = vim.api.nvim_buf_get_name(buf)
      -- A new file has no real path yet: resolve what exists of it (/tmp may be a link).
      if name ~= '' and (name == full or resolve_abs(name) == full) then
        return buf
      end
    end
  end
end

function M.buffer_text(buf)
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  if #lines == 1 and lines[1] == '' then
    return ''
  end
  return table.concat(lines, '\n') .. '\n'
end

function M.text_lines(text)
  local lines = vim.split(text, '\n', { plain = true })
  if #lines > 1 and lines[#lines] == '' then
    table.remove(lines)
  end
  return lines
end

-- --- files ---------------------------------------------------------------------------
--
-- Neovim has no openat(): a file is opened by its checked real path, then what was opened
-- is checked to be that path (a symlink swapped in meanwhile makes the call fail), and a
-- write goes to a temporary file in the checked directory renamed over the target, so a
-- symlink at the target is replaced, never followed.

local bit = require('bit')
local flags = uv.constants
local READ_FLAGS = bit.bor(flags.O_RDONLY, flags.O_NONBLOCK or 0) -- a FIFO swapped in does not hang
local NEW_FILE_FLAGS = bit.bor(flags.O_WRONLY, flags.O_CREAT, flags.O_EXCL)

local function changed(raw, done)
  M.fail(('%s changed during the call (a symlink where none was, or a loop); nothing was %s'):format(raw, done))
end

local function require_regular(kind, raw, done)
  if kind == 'directory' then
    M.fail(('%s is a directory'):format(raw))
  elseif kind == 'link' then
    changed(raw, done)
  elseif kind ~= 'file' then
    M.fail(('%s is not a regular file (a FIFO, socket or device); it is not %s'):format(raw, done))
  end
end

-- The file behind `fd` is `path` itself: on Linux what /proc says the descriptor is;
-- elsewhere the same file (device and inode) at a path that is still its own real path.
local function check_opened(fd, path, raw, done)
  local opened = uv.fs_readlink('/proc/self/fd/' .. fd)
  if opened then
    if opened ~= path then
      changed(raw, done)
    end
    return
  end
  local now, held = uv.fs_lstat(path), uv.fs_fstat(fd)
  local same = now and held and now.type ~= 'link' and now.dev == held.dev and now.ino == held.ino
  if not same or uv.fs_realpath(path) ~= path then
    changed(raw, done)
  end
end

local function token()
  local ok, bytes = pcall(uv.random, 8)
  if not ok or type(bytes) ~= 'string' then
    bytes = tostring(math.random(1e9)) .. tostring(uv.hrtime())
  end
  return (bytes:gsub('.', function(c)
    return ('%02x'):format(c:byte())
  end))
end

--- Makes the missing directories of `dir` (a real path inside `real_root`) one component
--- at a time, each checked to be a directory and not a symlink.
function M.make_dirs(real_root, dir, raw)
  if dir == real_root then
    return
  end
  local current = real_root
  for part in M.relative(real_root, dir):gmatch('[^/]+') do
    current = join(current, part)
    local stat = uv.fs_lstat(current)
    if not stat then
      local ok, err, code = uv.fs_mkdir(current, 493) -- 0755, like mkdir()
      if not ok and code ~= 'EEXIST' then
        M.fail(('cannot create %s: %s'):format(raw, err))
      end
      stat = uv.fs_lstat(current)
    end
    if stat and stat.type == 'link' then
      changed(raw, 'written')
    elseif not stat or stat.type ~= 'directory' then
      M.fail(('%s is not a directory'):format(raw))
    end
  end
  if uv.fs_realpath(dir) ~= dir then
    changed(raw, 'written')
  end
end

--- Checks, right before a write to `full` (a real path), that its directory is still its
--- own real path, that `full` has not become a symlink, a directory or a special file, and
--- that `buf` (when given) still shows `full`. The mode of the file to replace, if any.
function M.check_write_target(real_root, full, raw, buf)
  if full == real_root then
    M.fail(('%s is a directory'):format(raw))
  end
  local dir = vim.fs.dirname(full)
  local real_dir = uv.fs_realpath(dir)
  if real_dir and real_dir ~= dir then
    changed(raw, 'written')
  end
  if buf and resolve_abs(vim.api.nvim_buf_get_name(buf)) ~= full then
    changed(raw, 'written')
  end
  local stat = uv.fs_lstat(full)
  if not stat then
    return nil
  end
  require_regular(stat.type, raw, 'written')
  return stat.mode % 4096
end

--- Saves `buf` (showing `full`) with :write, once the target is checked again.
function M.write_buffer(real_root, buf, full, raw)
  M.make_dirs(real_root, vim.fs.dirname(full), raw)
  M.check_write_target(real_root, full, raw, buf)
  vim.api.nvim_buf_call(buf, function()
    vim.cmd('silent keepalt write!')
  end)
end

--- The bytes of regular file `full` (a real path), at most `limit` of them when given.
function M.read_disk(full, raw, limit)
  local stat = uv.fs_lstat(full)
  if not stat then
    M.fail(('%s does not exist'):format(raw))
  end
  require_regular(stat.type, raw, 'read')
  local fd, err = uv.fs_open(full, READ_FLAGS, 0)
  if not fd then
    M.fail(('cannot read %s: %s'):format(raw, err))
  end
  local ok, text = pcall(function()
    local held = assert(uv.fs_fstat(fd))
    require_regular(held.type, raw, 'read')
    check_opened(fd, full, raw, 'read')
    if limit and held.size > limit then
      M.fail(('%s is larger than %d bytes'):format(raw, limit))
    end
    local chunks, offset = {}, 0
    while true do
      local data, read_err = uv.fs_read(fd, 1024 * 1024, offset)
      if not data then
        M.fail(('cannot read %s: %s'):format(raw, read_err))
      elseif data == '' then
        return table.concat(chunks)
      end
      chunks[#chunks + 1] = data
      offset = offset + #data
    end
  end)
  uv.fs_close(fd)
  if not ok then
    error(text, 0)
  end
  return text
end

--- Writes `text` to `full` (a real path inside `real_root`) through a temporary file in
--- its checked directory, renamed over it; an existing file keeps its mode.
function M.write_disk(real_root, full, text, raw)
  local dir = vim.fs.dirname(full)
  M.make_dirs(real_root, dir, raw)
  local mode = M.check_write_target(real_root, full, raw)
  local temporary = join(dir, ('.codelab-%s.tmp'):format(token()))
  local fd, err = uv.fs_open(temporary, NEW_FILE_FLAGS, 438) -- 0666, less the umask
  if not fd then
    M.fail(('cannot write %s: %s'):format(raw, err))
  end
  local ok, problem = pcall(function()
    check_opened(fd, temporary, raw, 'written')
    if mode then
      assert(uv.fs_fchmod(fd, mode))
    end
    local offset = 0
    while offset < #text do
      local written, write_err = uv.fs_write(fd, offset == 0 and text or text:sub(offset + 1), offset)
      if not written then
        M.fail(('cannot write %s: %s'):format(raw, write_err))
      end
      offset = offset + written
    end
  end)
  uv.fs_close(fd)
  if ok then
    ok, problem = pcall(function()
      if uv.fs_realpath(dir) ~= dir then
        changed(raw, 'written')
      end
      local renamed, rename_err = uv.fs_rename(temporary, full)
      if not renamed then
        M.fail(('cannot write %s: %s'):format(raw, rename_err))
      end
    end)
  end
  if not ok then
    uv.fs_unlink(temporary)
    error(problem, 0)
  end
end

--- The text of a file as the user sees it: the buffer's when it is loaded, else the disk's.
function M.current_text(full, raw)
  local buf = M.find_buffer(full)
  if buf then
    return M.buffer_text(buf), buf
  end
  return M.read_disk(full, raw), nil
end

function M.count_plain(text, needle)
  local count, from = 0, 1
  while true do
    local at = text:find(needle, from, true)
    if not at then
      return count
    end
    count = count + 1
    from = at + #needle
  end
end

-- 0-based (row, col) of a 0-based byte offset in `text`.
function M.position(text, offset)
  local row, line_start = 0, 0
  local from = 1
  while true do
    local nl = text:find('\n', from, true)
    if not nl or nl > offset then
      break
    end
    row = row + 1
    line_start = nl
    from = nl + 1
  end
  return row, offset - line_start
end

function M.edited(text, path, old_text, new_text)
  if type(old_text) ~= 'string' or old_text == '' then
    M.fail('old_text must be a non-empty string')
  end
  if type(new_text) ~= 'string' then
    M.fail('new_text must be a string')
  end
  local count = M.count_plain(text, old_text)
  if count ~= 1 then
    M.fail(('old_text occurs %d times in %s; it must occur exactly once'):format(count, path))
  end
  local at = text:find(old_text, 1, true)
  return text:sub(1, at - 1) .. new_text .. text:sub(at + #old_text), at - 1
end

return M

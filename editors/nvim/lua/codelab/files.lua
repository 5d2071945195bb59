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

local function join(dir, name)
  return dir == '/' and '/' .. name or dir .. '/' .. name
end

-- Resolves a path component by component, like Python's Path.resolve(strict=False):
-- an existing prefix has its symlinks resolved, so `link/..` goes where the link points.
local function resolve_abs(path)
  local current = '/'
  for part in path:gmatch('[^/]+') do
    if part == '..' then
      current = vim.fs.dirname(current)
    elseif part ~= '.' then
      local nxt = join(current, part)
      current = uv.fs_realpath(nxt) or nxt
    end
  end
  return current
end

function M.root(root)
  return uv.fs_realpath(root) or vim.fs.normalize(root)
end

--- The absolute path of `raw` inside `root`, or a failure when it is outside.
function M.path(root, raw)
  if type(raw) ~= 'string' or raw == '' then
    M.fail('path must be a non-empty string')
  end
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
      if name ~= '' and (name == full or (uv.fs_realpath(name) or resolve_abs(name)) == full) then
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

function M.write_buffer(buf, full)
  vim.fn.mkdir(vim.fs.dirname(full), 'p')
  vim.api.nvim_buf_call(buf, function()
    vim.cmd('silent keepalt write!')
  end)
end

-- --- files ---------------------------------------------------------------------------

function M.read_disk(full, raw)
  local stat = uv.fs_stat(full)
  if not stat then
    M.fail(('%s does not exist'):format(raw))
  end
  if stat.type == 'directory' then
    M.fail(('%s is a directory'):format(raw))
  end
  local file, err = io.open(full, 'rb')
  if not file then
    M.fail(('cannot read %s: %s'):format(raw, err))
  end
  local text = file:read('*a')
  file:close()
  return text
end

function M.write_disk(full, text)
  vim.fn.mkdir(vim.fs.dirname(full), 'p')
  local file, err = io.open(full, 'wb')
  if not file then
    M.fail(('cannot write %s: %s'):format(full, err))
  end
  file:write(text)
  file:close()
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

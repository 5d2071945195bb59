-- list_files and search_in_code: finding things in the workspace. The search uses `rg`
-- when it is installed (fast, honours .gitignore) and a Lua walk otherwise, which also
-- sees the unsaved text of loaded buffers.
--
-- Neither walk enters a directory symlink. A symlink whose real path is inside the
-- workspace is listed (and, for a file, searched by the Lua walk; rg follows no link)
-- under its own name; one that leaves the workspace is listed as
-- `name -> (outside the workspace, skipped)` and never read.
local files = require('codelab.files')

local M = {}

local uv = vim.uv or vim.loop

M.SKIP_DIRS = {
  ['.git'] = true,
  ['node_modules'] = true,
  ['__pycache__'] = true,
  ['.venv'] = true,
  ['venv'] = true,
  ['.mypy_cache'] = true,
  ['.pytest_cache'] = true,
  ['.ruff_cache'] = true,
}
M.MAX_ENTRIES = 500
M.MAX_MATCHES = 200
M.MAX_SEARCH_FILE = 1024 * 1024
M.OUTSIDE = '(outside the workspace, skipped)'

local function join(dir, name)
  return dir == '/' and '/' .. name or dir .. '/' .. name
end

-- Where symlink `full` leads: its real path when that is inside the workspace, else nil.
local function link_target(real_root, full)
  local real = files.resolve(full)
  return files.inside(real_root, real) and real or nil
end

local function skipped(rel)
  for part in rel:gmatch('[^/]+') do
    if M.SKIP_DIRS[part] then
      return true
    end
  end
  return false
end

function M.list_files(ctx, args)
  local raw = args.path or '.'
  local base = files.path(ctx.root, raw)
  local stat = uv.fs_stat(base)
  if not stat or stat.type ~= 'directory' then
    files.fail(('%s is not a directory'):format(raw))
  end
  local real_root = files.root(ctx.root)
  local entries = {}
  local depth = args.recursive and 100 or 1
  for name, kind in
    vim.fs.dir(base, {
      depth = depth,
      skip = function(dir)
        return not M.SKIP_DIRS[vim.fs.basename(dir)]
      end,
    })
  do
    if not skipped(name) then
      local full = join(base, name)
      local rel = files.relative(real_root, full)
      if kind == 'link' then
        local real = link_target(real_root, full)
        if not real then
          rel = rel .. ' -> ' .. M.OUTSIDE
        elseif (uv.fs_stat(real) or {}).type == 'directory' then
          rel = rel .. '/'
        end
      elseif kind == 'directory' then
        rel = rel .. '/'
      end
      entries[#entries + 1] = rel
    end
  end
  table.sort(entries)
  if #entries > M.MAX_ENTRIES then
    entries = vim.list_slice(entries, 1, M.MAX_ENTRIES)
    entries[#entries + 1] = ('… (more than %d entries)'):format(M.MAX_ENTRIES)
  end
  return #entries > 0 and table.concat(entries, '\n') or '(empty directory)'
end

local function lua_search(ctx, args, base)
  local real_root = files.root(ctx.root)
  local matcher
  if args.is_regex then
    -- Vim's very magic regex is the nearest thing to the model's regex dialect; \C: case matters.
    local ok, regex = pcall(vim.regex, '\\v\\C' .. args.query)
    if not ok then
      files.fail(('invalid regex %s: %s'):format(args.query, regex))
    end
    matcher = function(line)
      return regex:match_str(line) ~= nil
    end
  else
    matcher = function(line)
      return line:find(args.query, 1, true) ~= nil
    end
  end
  -- { shown path, real path } of each file to search.
  local paths = {}
  local stat = uv.fs_stat(base)
  local single = stat and stat.type ~= 'directory'
  if stat and not single then
    for name, kind in
      vim.fs.dir(base, {
        depth = 100,
        skip = function(dir)
          return not M.SKIP_DIRS[vim.fs.basename(dir)]
        end,
      })
    do
      local full = join(base, name)
      local real = kind == 'file' and full or kind == 'link' and link_target(real_root, full)
      if real and not skipped(name) then
        paths[#paths + 1] = { full, real }
      end
    end
  elseif single then
    paths[1] = { base, base }
  else
    files.fail(('%s does not exist'):format(args.path))
  end
  table.sort(paths, function(a, b)
    return a[1] < b[1]
  end)
  local matches = {}
  for _, file in ipairs(paths) do
    local shown, real = file[1], file[2]
    local buf = files.find_buffer(real)
    local text
    if buf then
      text = files.buffer_text(buf)
    elseif single then
      text = files.read_disk(real, args.path) -- the file asked for: why it cannot be read is the answer
    else
      -- Not a regular file (any more), too big, unreadable: not searched.
      local ok, data = pcall(files.read_disk, real, shown, M.MAX_SEARCH_FILE)
      text = ok and data or nil
    end
    if text and not text:find('\0', 1, true) then
      local number = 0
      for line in (text .. (text:sub(-1) == '\n' and '' or '\n')):gmatch('([^\n]*)\n') do
        number = number + 1
        if matcher(line) then
          matches[#matches + 1] = ('%s:%d: %s'):format(files.relative(real_root, shown), number, vim.trim(line))
          if #matches >= M.MAX_MATCHES then
            matches[#matches + 1] = ('… (more than %d matches)'):format(M.MAX_MATCHES)
            return table.concat(matches, '\n')
          end
        end
      end
    end
  end
  return #matches > 0 and table.concat(matches, '\n') or 'no matches'
end

-- rg's answer, as the same lines the Lua search gives.
local function rg_result(res, done)
  if res.code == 1 then
    return done('success', 'no matches')
  end
  -- 2 is also what rg says when some files could not be read but others matched.
  if res.code ~= 0 and (res.code ~= 2 or (res.stdout or '') == '') then
    return done('error', vim.trim(res.stderr or '') ~= '' and vim.trim(res.stderr) or ('rg exited with ' .. res.code))
  end
  local matches = {}
  for line in vim.gsplit(res.stdout or '', '\n', { plain = true, trimempty = true }) do
    local file, number, rest = line:match('^(.-):(%d+):(.*)$')
    if file then
      file = file:gsub('^%./', '')
      matches[#matches + 1] = ('%s:%s: %s'):format(file, number, vim.trim(rest))
      if #matches >= M.MAX_MATCHES then
        matches[#matches + 1] = ('… (more than %d matches)'):format(M.MAX_MATCHES)
        break
      end
    end
  end
  done('success', #matches > 0 and table.concat(matches, '\n') or 'no matches')
end

local function rg_search(ctx, args, base, done)
  local real_root = files.root(ctx.root)
  -- --sort path: the same answer every time (and the same order as the Lua search).
  -- --no-follow: whatever the user's rg config says, no symlink leads the search out.
  local cmd = {
    'rg',
    '--line-number',
    '--no-heading',
    '--with-filename',
    '--color',
    'never',
    '--sort',
    'path',
    '--no-follow',
  }
  vim.list_extend(cmd, { '--max-columns', '500', '--max-columns-preview' })
  if not args.is_regex then
    cmd[#cmd + 1] = '--fixed-strings'
  end
  vim.list_extend(cmd, { '--regexp', args.query })
  for dir in pairs(M.SKIP_DIRS) do
    vim.list_extend(cmd, { '--glob', '!' .. dir })
  end
  vim.list_extend(cmd, { '--', files.relative(real_root, base) })
  vim.system(cmd, { cwd = real_root, text = true }, function(res)
    -- Runs in a fast event, outside the caller's error handling: never let it throw.
    local ok, err = pcall(rg_result, res, done)
    if not ok then
      done('error', 'reading the rg output failed: ' .. tostring(err))
    end
  end)
end

--- Calls done(status, content): rg runs asynchronously.
function M.search_in_code(ctx, args, done)
  if type(args.query) ~= 'string' or args.query == '' then
    files.fail('query must be a non-empty string')
  end
  local base = files.path(ctx.root, args.path or '.')
  -- One file (a FIFO would hang rg) goes through the Lua search, which checks it.
  local is_dir = (uv.fs_stat(base) or {}).type == 'directory'
  if is_dir and M.use_rg ~= false and vim.fn.executable('rg') == 1 then
    return rg_search(ctx, args, base, done)
  end
  done('success', lua_search(ctx, args, base))
end

return M

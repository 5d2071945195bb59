-- Runs the specs, each in its own headless Neovim against the real sidecar.
--
--   nvim --headless -u NONE --noplugin -l editors/nvim/tests/run.lua [name-filter ...]
--
-- The sidecar command is `codelab-agent --stdio` from PATH (override with
-- CODELAB_SIDECAR="python -m server --stdio"). Specs run in parallel; each gets its own
-- XDG directories and is killed after CODELAB_SPEC_TIMEOUT seconds (default 60).
-- Exits non-zero when any spec fails.
local script = debug.getinfo(1, 'S').source:sub(2)
local tests_dir = vim.fs.dirname(vim.fn.fnamemodify(script, ':p'))
local plugin_dir = vim.fs.dirname(tests_dir)
local timeout = (tonumber(os.getenv('CODELAB_SPEC_TIMEOUT')) or 60) * 1000

local filters = _G.arg or {}
local specs = {}
for name, kind in vim.fs.dir(tests_dir .. '/spec') do
  if kind == 'file' and name:match('_spec%.lua$') then
    local wanted = #filters == 0
    for _, f in ipairs(filters) do
      wanted = wanted or name:find(f, 1, true) ~= nil
    end
    if wanted then
      specs[#specs + 1] = name
    end
  end
end
table.sort(specs)
if #specs == 0 then
  io.stderr:write('no spec matched\n')
  os.exit(2)
end

-- The specs never reach a real model: no provider key is passed on.
local function environment(tmp)
  local env = {}
  for k, v in pairs(vim.fn.environ()) do
    if not k:match('_API_KEY$') then
      env[k] = v
    end
  end
  env.XDG_DATA_HOME = tmp .. '/data'
  env.XDG_STATE_HOME = tmp .. '/state'
  env.XDG_CONFIG_HOME = tmp .. '/config'
  env.XDG_CACHE_HOME = tmp .. '/cache'
  env.CODELAB_AGENT_MODEL = 'demo'
  env.CODELAB_TEST_TMP = tmp
  env.CODELAB_PLUGIN_DIR = plugin_dir
  env.NVIM = nil -- a spec is its own editor, not a child of this one
  return env
end

local started = vim.uv.hrtime()
local jobs = {}
for _, name in ipairs(specs) do
  local tmp = vim.fn.tempname()
  vim.fn.mkdir(tmp, 'p')
  local job = { name = name, start = vim.uv.hrtime() }
  job.proc = vim.system({
    vim.v.progpath,
    '--headless',
    '-u',
    'NONE',
    '--noplugin',
    '-i',
    'NONE',
    '-n',
    '-l',
    tests_dir .. '/child.lua',
    tests_dir .. '/spec/' .. name,
  }, { env = environment(tmp), clear_env = true, text = true, timeout = timeout, cwd = tmp }, function(res)
    job.res = res
    job.seconds = (vim.uv.hrtime() - job.start) / 1e9
  end)
  job.tmp = tmp
  jobs[#jobs + 1] = job
end

vim.wait(timeout + 10000, function()
  for _, job in ipairs(jobs) do
    if not job.res then
      return false
    end
  end
  return true
end, 50)

local failed = 0
for _, job in ipairs(jobs) do
  local res = job.res or { code = -1, stdout = '', stderr = 'did not finish' }
  local ok = res.code == 0
  io.stdout:write(('\n=== %s (%.1fs) %s\n'):format(job.name, job.seconds or -1, ok and 'PASS' or 'FAIL'))
  io.stdout:write(res.stdout or '')
  if not ok then
    failed = failed + 1
    if res.code == 124 then
      io.stdout:write(('(killed after %ds)\n'):format(timeout / 1000))
    end
    if res.stderr and res.stderr ~= '' then
      io.stdout:write('--- stderr\n' .. res.stderr .. '\n')
    end
  end
  vim.fn.delete(job.tmp, 'rf')
end
io.stdout:write(('\n%d spec file(s), %d failed, %.1fs\n'):format(#jobs, failed, (vim.uv.hrtime() - started) / 1e9))
io.stdout:flush()
os.exit(failed == 0 and 0 or 1)

-- :checkhealth codelab
local M = {}

local health = vim.health

-- `codelab-agent --stdio --db x` -> `codelab-agent --version`; `python -m server --stdio` ->
-- `python -m server --version`: the words before the first option, then --version.
local function version_cmd(cmd)
  local out = {}
  for i, word in ipairs(cmd) do
    if i > 1 and word:sub(1, 2) == '--' then
      break
    end
    out[#out + 1] = word
  end
  out[#out + 1] = '--version'
  return out
end

function M.check()
  local config = require('codelab.config')
  local options = config.options

  health.start('codelab: Neovim')
  if vim.fn.has('nvim-0.10') == 1 then
    health.ok('Neovim ' .. tostring(vim.version()))
  else
    health.error('Neovim 0.10 or later is needed')
  end

  health.start('codelab: sidecar')
  local cmd = options.cmd
  if type(cmd) ~= 'table' or type(cmd[1]) ~= 'string' then
    health.info('cmd is not a list of strings; cannot check it: ' .. vim.inspect(cmd))
  else
    local exe = cmd[1]
    if vim.fn.executable(exe) == 1 then
      health.ok(('sidecar command found: %s (%s)'):format(exe, vim.fn.exepath(exe)))
      health.info('started as: ' .. table.concat(config.command(), ' '))
      local ok, res = pcall(function()
        return vim.system(version_cmd(cmd), { text = true, env = options.cmd_env }):wait(10000)
      end)
      if ok and res.code == 0 then
        health.ok('version: ' .. vim.trim(res.stdout ~= '' and res.stdout or res.stderr))
      else
        health.warn(
          ('`%s` failed: %s'):format(
            table.concat(version_cmd(cmd), ' '),
            ok and vim.trim((res.stderr or '') .. (res.stdout or '')) or tostring(res)
          )
        )
      end
    else
      health.error(('sidecar command not found or not executable: %s'):format(exe), {
        'Install the sidecar: pip install -e /path/to/codelab-agent (it provides `codelab-agent`)',
        "Or point the plugin at it: require('codelab').setup({ cmd = { '/path/to/codelab-agent', '--stdio' } })",
      })
    end
  end
  local options_json = vim.json.encode(config.init_options('<workspace>'))
  health.info('initializationOptions: ' .. options_json)
  if not options.model and not vim.env.CODELAB_AGENT_MODEL then
    health.info(
      'no model configured: the sidecar picks one from the provider keys it finds, else its offline demo model'
    )
  end

  health.start('codelab: tools')
  if vim.fn.executable('rg') == 1 then
    health.ok('rg found: search_in_code uses ripgrep')
  else
    health.info('rg not found: search_in_code uses the built-in Lua search')
  end

  health.start('codelab: running sidecars')
  local clients = vim.lsp.get_clients({ name = require('codelab.client').NAME })
  if #clients == 0 then
    health.info('none (a sidecar starts with the first :Codelab of a workspace)')
  end
  for _, c in ipairs(clients) do
    local info = c.server_info or {}
    local agent = vim.tbl_get(c.server_capabilities or {}, 'experimental', 'agent') or {}
    if agent.protocolVersion ~= require('codelab.client').PROTOCOL_VERSION then
      health.warn(
        ('protocol version %s (this plugin speaks %d)'):format(
          tostring(agent.protocolVersion),
          require('codelab.client').PROTOCOL_VERSION
        )
      )
    end
    health.ok(
      ('%s %s for %s'):format(info.name or 'sidecar', info.version or '', c.root_dir or c.config.root_dir or '?')
    )
  end
  health.info('last sessions are remembered in ' .. config.state_file())
end

return M

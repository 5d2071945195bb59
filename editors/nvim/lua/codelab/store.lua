-- The last session of each workspace, kept on disk so that :CodelabResume works after
-- Neovim restarts. The sessions themselves live in the sidecar's database.
local config = require('codelab.config')

local M = {}

local function read()
  local path = config.state_file()
  local file = io.open(path, 'r')
  if not file then
    return {}
  end
  local text = file:read('*a')
  file:close()
  local ok, data = pcall(vim.json.decode, text)
  return (ok and type(data) == 'table') and data or {}
end

function M.last_session(root)
  return read()[root]
end

function M.remember(root, session_id)
  local data = read()
  if data[root] == session_id then
    return
  end
  data[root] = session_id
  local path = config.state_file()
  vim.fn.mkdir(vim.fs.dirname(path), 'p')
  -- Write then rename, so a crash never leaves half a file behind.
  local tmp = path .. '.tmp'
  local file = io.open(tmp, 'w')
  if not file then
    return
  end
  file:write(vim.json.encode(data))
  file:close()
  os.rename(tmp, path)
end

return M

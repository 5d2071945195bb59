-- One spec file in one headless Neovim: `nvim --headless -u NONE -l child.lua spec.lua`.
local spec = assert(_G.arg[1], 'usage: child.lua SPEC')
local tests_dir = vim.fs.dirname(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p'))
package.path = tests_dir .. '/?.lua;' .. package.path

local t = require('helpers')
local chunk = assert(loadfile(spec))
chunk()
os.exit(t.run() == 0 and 0 or 1)

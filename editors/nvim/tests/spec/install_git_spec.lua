-- The README's git-based lazy.nvim spec, in a clean Neovim of its own.
local t = require('helpers')

t.test("the README's git-based spec loads the plugin through its config function", function()
  t.eq(0, vim.fn.exists(':Codelab'), 'a clean editor has no :Codelab')
  local block = t.readme_block('config = function')
  local spec = assert(loadstring(block))()
  -- The repository that holds editors/nvim, as lazy.nvim would have cloned it.
  t.lazy_load(spec, vim.fs.dirname(vim.fs.dirname(t.plugin_dir)))
  t.eq(2, vim.fn.exists(':Codelab'), ':Codelab')
  t.eq('openrouter/openai/gpt-4.1', require('codelab.config').options.model, 'opts reached setup()')
end)

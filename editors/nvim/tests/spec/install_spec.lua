-- The README's lazy.nvim specs load the plugin in a clean Neovim the way lazy.nvim does;
-- :checkhealth codelab finds the sidecar; :help codelab works.
local t = require('helpers')

local function checkhealth()
  vim.cmd('checkhealth codelab')
  return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
end

t.test("the README's lazy.nvim spec (dir) loads the plugin; checkhealth finds the sidecar", function()
  t.ok(vim.fn.exists(':Codelab') == 0, 'a clean editor has no :Codelab')
  local block = t.readme_block("dir = '")
  local spec = assert(loadstring(block))()
  t.eq('/path/to/codelab-agent/editors/nvim', spec.dir, 'the spec as written')
  t.lazy_load(spec, t.plugin_dir)

  for _, name in ipairs(spec.cmd) do
    t.eq(2, vim.fn.exists(':' .. name), 'the command :' .. name .. ' that lazy.nvim loads on')
  end
  for _, name in ipairs({
    'CodelabApprove',
    'CodelabReject',
    'CodelabRevise',
    'CodelabCancel',
    'CodelabRetry',
    'CodelabSkip',
    'CodelabStop',
  }) do
    t.eq(2, vim.fn.exists(':' .. name), ':' .. name)
  end
  local config = require('codelab.config')
  t.eq('openrouter/openai/gpt-4.1', config.options.model, 'opts reached setup()')
  t.eq({ 'git status', 'ls' }, config.init_options('/w').approval.allowedCommands, 'the approval policy')

  local report = checkhealth()
  t.contains(report, 'sidecar command found: codelab-agent')
  t.ok(report:match('version: codelab%-agent %d+%.%d+'), 'the version in:\n' .. report)
  t.ok(not report:find('ERROR', 1, true), 'no error in:\n' .. report)
end)

t.test("the README's configuration example is accepted", function()
  vim.opt.runtimepath:prepend(t.plugin_dir)
  local block = t.readme_block("require('codelab').setup({")
  assert(loadstring(block))()
  local options = require('codelab.config').init_options('/w')
  t.eq({
    autoApprove = { read = true, write = false, command = false },
    allowedCommands = { 'git status', 'ls', 'pytest' },
    deniedCommands = { 'rm -rf', 'git push' },
    outsideWorkspace = 'ask',
  }, options.approval)
end)

t.test('checkhealth reports a missing sidecar, and a task says so instead of hanging', function()
  t.setup({ cmd = { 'no-such-codelab-sidecar', '--stdio' } })
  local report = checkhealth()
  t.contains(report, 'not found or not executable: no-such-codelab-sidecar')
  vim.cmd('enew')
  local root = t.workspace()
  vim.cmd('Codelab create hello.py that prints hello')
  t.wait(function()
    return t.chat_text(root):find('cannot start the sidecar', 1, true) ~= nil
  end, 'the error in the chat', 5000, root)
  t.eq(nil, t.state(root).busy, 'nothing left in flight')
end)

t.test(':help codelab and its tags', function()
  local rtp = t.tmp .. '/help-rtp'
  vim.fn.mkdir(rtp .. '/doc', 'p')
  vim.fn.writefile(vim.fn.readfile(t.plugin_dir .. '/doc/codelab.txt'), rtp .. '/doc/codelab.txt')
  vim.cmd.helptags(vim.fn.fnameescape(rtp .. '/doc'))
  vim.opt.runtimepath:prepend(rtp)
  for _, tag in ipairs({
    'codelab',
    ':Codelab',
    ':CodelabApprove',
    ':CodelabResume',
    'codelab-options',
    'codelab.setup()',
    'codelab-tools',
  }) do
    vim.cmd.help(tag)
    t.eq('codelab.txt', vim.fs.basename(vim.api.nvim_buf_get_name(0)), ':help ' .. tag)
    vim.cmd.helpclose()
  end
end)

t.test('options the sidecar refuses are reported, and nothing waits for ever', function()
  t.setup({ approval = { outside_workspace = 'sometimes' } })
  require('codelab.client').INIT_TIMEOUT = 3000
  local root = t.workspace()
  vim.cmd('Codelab create hello.py that prints hello')
  t.wait(function()
    return t.chat_text(root):find('the sidecar did not initialize within 3s', 1, true) ~= nil
  end, 'the error in the chat', 10000, root)
  t.eq(nil, t.state(root).busy, 'nothing left in flight')
  t.wait(function()
    return #vim.lsp.get_clients({ _uninitialized = true }) == 0
  end, 'the client given up to stop')
end)

-- A complex task becomes a plan; it runs to completion, and a rejection with feedback
-- reaches the model. Progress goes through Neovim's own LSP progress.
local t = require('helpers')

local FEEDBACK = 'not this one'
local REJECTED = 'Did not write the file: The user rejected this tool call. Feedback: ' .. FEEDBACK

t.test('a plan runs to completion with one rejected write', function()
  t.setup()
  local root = t.workspace()
  t.answer_ui({})
  t.answer_calls(function(call)
    if call.arguments.path == 'test_currency_rates.py' then
      return 'reject', FEEDBACK
    end
    return 'approve'
  end)
  local progress, statuses = {}, {}
  vim.api.nvim_create_autocmd('LspProgress', {
    callback = function(ev)
      local value = ev.data.params.value
      progress[#progress + 1] = value.kind
      local status = vim.lsp.status()
      if status ~= '' then
        statuses[#statuses + 1] = status
      end
    end,
  })

  vim.cmd('Codelab implement a currency rates app')
  local waiting = t.wait_status(root, 'awaiting_plan_approval')
  local w = t.state(root)
  local plan = w.plans[waiting.planId]
  t.eq('awaiting_approval', plan.status, 'the plan before approval')
  t.eq(
    { 's1', 's2', 's3' },
    vim.tbl_map(function(s)
      return s.id
    end, plan.subtasks),
    'the subtasks'
  )
  local chat = t.chat_text(root)
  t.contains(chat, 'Plan v1 (awaiting approval): implement a currency rates app')
  t.contains(chat, '[ ] s2 Write its tests (code, after s1)')
  t.contains(chat, 'ga approve · gr reject')
  t.eq(0, #t.asked, 'the architect only read (no approval)')

  vim.cmd('CodelabApprove')
  local done = t.wait_status(root, 'completed')

  plan = w.plans[waiting.planId]
  t.eq('completed', plan.status, 'the plan at the end')
  for _, s in ipairs(plan.subtasks) do
    t.eq('done', s.status, 'subtask ' .. s.id)
  end
  t.eq(REJECTED, plan.subtasks[2].result, 'the model got the feedback')
  t.contains(done.message, REJECTED, 'the summary')
  t.ok(t.exists(root .. '/currency_rates.py'), 'currency_rates.py written')
  t.ok(not t.exists(root .. '/test_currency_rates.py'), 'the rejected file is not written')
  t.ok(t.exists(root .. '/README.md'), 'README.md written')

  -- Three writes asked in the chat; no prompt opened.
  t.eq(3, #t.asked, 'calls asked')
  t.eq(0, #t.ui.selects + #t.ui.inputs, 'prompts opened')
  chat = t.chat_text(root)
  t.contains(chat, 'Plan v1 (completed)')
  t.contains(chat, '[✓] s3 Document how to run it')
  t.contains(chat, '→ ' .. REJECTED)
  t.contains(chat, '⊘ write_file test_currency_rates.py — rejected: ' .. FEEDBACK)
  t.contains(chat, '✓ write_file README.md — success')

  t.eq('begin', progress[1], 'LSP progress begins')
  t.eq('end', progress[#progress], 'LSP progress ends')
  t.ok(vim.tbl_contains(progress, 'report'), 'LSP progress reports subtasks')
  t.contains(table.concat(statuses, '\n'), 'codelab-agent plan', 'vim.lsp.status()')
end)

t.test('a plan can be revised, then rejected', function()
  t.setup()
  local root = t.workspace()
  t.answer_ui({})
  t.answer_calls('approve')
  vim.cmd('Codelab implement a todo list app')
  local first = t.wait_status(root, 'awaiting_plan_approval')
  vim.cmd('CodelabRevise add a changelog')
  local second = t.wait_status(root, 'awaiting_plan_approval')
  local plan = t.state(root).plans[second.planId]
  t.eq(2, plan.version, 'the revised plan')
  t.eq(4, #plan.subtasks, 'subtasks after the revision')
  t.contains(t.chat_text(root), 'Plan v2 (awaiting approval)')
  t.ok(first.planId, 'a plan id')
  vim.cmd('CodelabReject not now')
  t.wait(function()
    local w = t.state(root)
    return not w.busy and w.result.status ~= 'awaiting_plan_approval'
  end, 'the rejection', nil, root)
  t.eq('rejected', t.state(root).plans[second.planId].status, 'the plan after rejection')
end)

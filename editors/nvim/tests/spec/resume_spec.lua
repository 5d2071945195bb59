-- A session goes on after Neovim restarts, or after its sidecar dies; a call the
-- sidecar sends again (same callId) is never asked or run twice.
local t = require('helpers')

t.test('after a restart, :CodelabResume asks the pending call again and finishes the plan', function()
  local root = t.tmp .. '/restart-ws'
  local record = t.tmp .. '/call-id'
  local phase1 = vim
    .system({
      vim.v.progpath,
      '--headless',
      '-u',
      'NONE',
      '--noplugin',
      '-i',
      'NONE',
      '-n',
      '-l',
      t.plugin_dir .. '/tests/resume_phase1.lua',
      root,
      record,
    }, { text = true, timeout = 30000 })
    :wait()
  t.eq(0, phase1.code, 'the first editor: ' .. phase1.stdout .. phase1.stderr)
  local call_id = t.ok(t.read(record), 'the call id of the first editor')
  t.ok(not t.exists(root .. '/currency_rates.py'), 'nothing written before the approval')

  t.setup()
  vim.cmd.cd(vim.fn.fnameescape(root))
  root = vim.uv.fs_realpath(root)
  t.answer_calls('approve')
  vim.cmd('CodelabResume') -- no id: the last session of this workspace, remembered on disk
  local result = t.wait_status(root, 'completed')
  t.eq(3, #t.asked, 'calls asked: the re-sent call, then the two other writes')
  t.eq('currency_rates.py', t.asked[1].params.arguments.path, 'the re-sent call')
  local call = t.state(root).calls[call_id]
  t.ok(call, 'the same call id was sent again')
  t.eq('success', call.answer.status, 'its answer')
  local w = t.state(root)
  t.eq('completed', w.plans[result.planId].status, 'the plan')
  for _, file in ipairs({ 'currency_rates.py', 'test_currency_rates.py', 'README.md' }) do
    t.ok(t.exists(root .. '/' .. file), file)
  end
  local chat = t.chat_text(root)
  t.contains(chat, 'session ' .. result.sessionId)
  t.contains(chat, 'Plan v1 (completed)')
end)

t.test('after the sidecar dies, a call still being decided is not asked twice', function()
  t.setup()
  local root = t.workspace()
  t.answer_calls(t.HOLD)
  vim.cmd('CodelabMode code create todo.md with my todos')
  t.wait_asked(1)
  local call_id = t.state(root).result.pendingToolCalls[1]

  t.kill_sidecar(root)
  t.contains(t.chat_text(root), 'the sidecar stopped')
  vim.cmd('CodelabResume')
  t.wait(function()
    local w = t.state(root)
    return not w.busy and w.result.status == 'awaiting_tool_results' and #t.clients() == 1
  end, 'the resumed turn', nil, root)
  t.eq({ call_id }, t.state(root).result.pendingToolCalls, 'the same call, sent again')
  t.eq(1, #t.asked, 'calls asked after the resume')
  t.contains(t.chat_text(root), '? write_file todo.md — awaiting approval')

  t.decide(root, 'approve') -- the user decides now; the answer goes to the new sidecar
  local result = t.wait_status(root, 'completed')
  t.contains(result.message, 'Wrote todo.md.')
  t.ok(t.exists(root .. '/todo.md'), 'todo.md written')
  t.eq(1, #t.asked, 'calls asked in all')
end)

t.test(':CodelabCancel ends a turn waiting for approval; a late answer changes nothing', function()
  t.setup()
  local root = t.workspace()
  t.answer_calls(t.HOLD)
  vim.cmd('CodelabMode code create late.md with my notes')
  t.wait_asked(1)
  vim.cmd('CodelabCancel')
  t.wait_status(root, 'cancelled')
  t.decide(root, 'approve') -- too late: nothing waits any more
  vim.wait(200)
  t.ok(not t.exists(root .. '/late.md'), 'a cancelled call is not run')
  t.contains(t.chat_text(root), '⊘ write_file late.md — cancelled')

  -- The session goes on with the next task.
  t.answer_calls('approve')
  vim.cmd('CodelabMode code create next.md with my notes')
  t.wait_status(root, 'completed')
  t.ok(t.exists(root .. '/next.md'), 'the next task ran')
end)

t.test(':CodelabSessions lists the sessions and resumes the one picked', function()
  t.setup()
  local root = t.workspace()
  t.answer_ui({
    select = function(items, opts)
      if opts.kind == 'codelab.session' then
        return items[1]
      end
      error('an approval must not open a picker')
    end,
  })
  t.answer_calls(t.HOLD)
  vim.cmd('CodelabMode code create picked.md with my notes')
  t.wait_asked(1)
  local session = t.state(root).session
  t.kill_sidecar(root)
  -- A new editor state: forget what this one knew of the session.
  t.state(root).session, t.state(root).result = nil, nil
  t.state(root).calls = {}
  vim.cmd('CodelabSessions')
  t.wait(function()
    return #t.asked == 2 -- the re-sent call, asked in the chat again
  end, 'the picker and the approval', nil, root)
  t.eq(1, #t.ui.selects, 'the session picker')
  local picker = t.ui.selects[1]
  t.eq(session, picker.items[1].id, 'the newest session first')
  t.contains(picker.opts.format_item(picker.items[1]), 'create picked.md with my notes')
  t.decide(root, 'approve')
  t.wait_status(root, 'completed')
  t.ok(t.exists(root .. '/picked.md'), 'picked.md written')
end)

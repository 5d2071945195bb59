import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readSettings, type SettingsReader } from '../../src/core/settings';

function reader(values: Record<string, unknown>): SettingsReader {
  return { get: <T>(key: string) => values[key] as T | undefined };
}

describe('settings', () => {
  it('defaults to codelab-agent on PATH, the policy defaults, and no model (the sidecar picks)', () => {
    const s = readSettings(reader({}), '/ws');
    assert.equal(s.serverPath, 'codelab-agent');
    assert.deepEqual(s.args, ['--stdio', '--log-level', 'INFO']);
    assert.deepEqual(s.initializationOptions, {
      workspaceRoot: '/ws',
      llm: {},
      approval: {
        autoApprove: { read: true, write: false, command: false },
        allowedCommands: [],
        deniedCommands: [],
        outsideWorkspace: 'ask',
      },
    });
    assert.deepEqual(s.configuration, {
      codelabAgent: { llm: {}, approval: s.initializationOptions.approval },
    });
  });

  it('passes what is set, in the wire shape', () => {
    const s = readSettings(
      reader({
        serverPath: ' /venv/bin/codelab-agent ',
        model: 'openai/qwen',
        classifierModel: '',
        apiBase: 'http://127.0.0.1:8080/v1',
        timeoutSeconds: 30,
        database: '/data/agent.db',
        logLevel: 'debug',
        'approval.autoApprove.write': true,
        'approval.allowedCommands': ['git status', '', 'pytest'],
        'approval.deniedCommands': ['rm -rf'],
        'approval.outsideWorkspace': 'deny',
      }),
      '/ws',
    );
    assert.equal(s.serverPath, '/venv/bin/codelab-agent');
    assert.deepEqual(s.args, ['--stdio', '--log-level', 'DEBUG']);
    assert.equal(s.initializationOptions.database, '/data/agent.db');
    assert.deepEqual(s.initializationOptions.llm, {
      model: 'openai/qwen',
      apiBase: 'http://127.0.0.1:8080/v1',
      timeoutSeconds: 30,
    });
    assert.deepEqual(s.configuration.codelabAgent.approval, {
      autoApprove: { read: true, write: true, command: false },
      allowedCommands: ['git status', 'pytest'],
      deniedCommands: ['rm -rf'],
      outsideWorkspace: 'deny',
    });
  });
});

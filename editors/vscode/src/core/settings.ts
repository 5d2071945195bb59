/**
 * The extension's settings (`codelab.*`) turned into what the sidecar reads:
 * `initializationOptions` at start, and the live-changeable part for
 * `workspace/didChangeConfiguration`.
 */
import type { ApprovalOptions, ConfigurationSettings, InitializationOptions, LlmOptions } from '../protocol';

/** vscode's `WorkspaceConfiguration` has this shape. */
export interface SettingsReader {
  get<T>(key: string): T | undefined;
}

export const SECTION = 'codelab';

export interface SidecarSettings {
  /** The executable, `codelab-agent` on PATH by default. */
  serverPath: string;
  /** Arguments before any option: `--stdio` and the log level. */
  args: string[];
  initializationOptions: InitializationOptions;
  /** The `settings` of `workspace/didChangeConfiguration`. */
  configuration: { codelabAgent: ConfigurationSettings };
}

/** Settings whose change needs the sidecar to start again (the rest change live). */
export const RESTART_KEYS = ['serverPath', 'database', 'logLevel'] as const;

export function readSettings(config: SettingsReader, workspaceRoot: string): SidecarSettings {
  const text = (key: string): string | undefined => {
    const value = config.get<string>(key)?.trim();
    return value ? value : undefined;
  };
  const llm: LlmOptions = {};
  const model = text('model');
  const classifierModel = text('classifierModel');
  const apiBase = text('apiBase');
  const timeoutSeconds = config.get<number | null>('timeoutSeconds');
  if (model) llm.model = model;
  if (classifierModel) llm.classifierModel = classifierModel;
  if (apiBase) llm.apiBase = apiBase;
  if (typeof timeoutSeconds === 'number' && timeoutSeconds > 0) llm.timeoutSeconds = timeoutSeconds;

  const approval: ApprovalOptions = {
    autoApprove: {
      read: config.get<boolean>('approval.autoApprove.read') ?? true,
      write: config.get<boolean>('approval.autoApprove.write') ?? false,
      command: config.get<boolean>('approval.autoApprove.command') ?? false,
    },
    allowedCommands: strings(config.get('approval.allowedCommands')),
    deniedCommands: strings(config.get('approval.deniedCommands')),
    outsideWorkspace: config.get<string>('approval.outsideWorkspace') === 'deny' ? 'deny' : 'ask',
  };

  const initializationOptions: InitializationOptions = { workspaceRoot, llm, approval };
  const database = text('database');
  if (database) initializationOptions.database = database;
  const logLevel = (text('logLevel') ?? 'INFO').toUpperCase();

  return {
    serverPath: text('serverPath') ?? 'codelab-agent',
    args: ['--stdio', '--log-level', logLevel],
    initializationOptions,
    configuration: { codelabAgent: { llm, approval } },
  };
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string' && v.trim() !== '') : [];
}

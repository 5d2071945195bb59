/**
 * The extension's settings (`codelab.*`) turned into what the sidecar reads: its command
 * line and `initializationOptions` at start, and the live-changeable part for
 * `workspace/didChangeConfiguration`.
 *
 * A folder's `.vscode/settings.json` is written by whoever made the repository, so the
 * settings that choose what runs (`serverPath`), where sessions are stored (`database`),
 * where the model's traffic and the user's key go (`apiBase`, `apiKeyEnv`) and what runs
 * unasked (`approval.*`) are user-only: `"scope": "machine"` in package.json, and read
 * here from the user's value alone (`inspect(key).globalValue`), never a workspace's,
 * whatever the host does with the scope. The API base and its key variable reach the
 * sidecar as command-line flags (`--api-base`, `--api-key-env`): the sidecar sends the
 * user's key only to an API base given there, never to one from `initializationOptions`.
 */
import type { ApprovalOptions, ConfigurationSettings, InitializationOptions, LlmOptions } from '../protocol';

/** What vscode's `WorkspaceConfiguration.inspect` answers, in the parts read here. */
export interface SettingInspection<T> {
  defaultValue?: T;
  /** User settings (or remote settings in a remote window). */
  globalValue?: T;
  /** Never read for a user-only setting; named so tests can supply it. */
  workspaceValue?: T;
  workspaceFolderValue?: T;
}

/** vscode's `WorkspaceConfiguration` has this shape. */
export interface SettingsReader {
  /** The effective value: the workspace's over the user's over the default. */
  get<T>(key: string): T | undefined;
  inspect<T>(key: string): SettingInspection<T> | undefined;
}

export const SECTION = 'codelab';

/** Settings only the user may set (`"scope": "machine"` in package.json). */
export const USER_ONLY_KEYS = [
  'serverPath',
  'database',
  'apiBase',
  'apiKeyEnv',
  'approval.autoApprove.read',
  'approval.autoApprove.write',
  'approval.autoApprove.command',
  'approval.allowedCommands',
  'approval.deniedCommands',
  'approval.outsideWorkspace',
] as const;

const LOG_LEVELS: readonly string[] = ['DEBUG', 'INFO', 'WARNING', 'ERROR'];

export type UserOnlyKey = (typeof USER_ONLY_KEYS)[number];

export interface SidecarSettings {
  /** The executable, `codelab-agent` on PATH by default. */
  serverPath: string;
  /** `--stdio`, the log level, and the user's API base and key variable. */
  args: string[];
  initializationOptions: InitializationOptions;
  /** The `settings` of `workspace/didChangeConfiguration`. */
  configuration: { codelabAgent: ConfigurationSettings };
}

/** Settings whose change needs the sidecar to start again (the rest change live). */
export const RESTART_KEYS = ['serverPath', 'database', 'logLevel', 'apiBase', 'apiKeyEnv'] as const;

/** The user's value of a user-only setting, else its default; a workspace's value never. */
export function userValue<T>(config: SettingsReader, key: UserOnlyKey): T | undefined {
  const inspected = config.inspect<T>(key);
  return inspected?.globalValue ?? inspected?.defaultValue;
}

/** The user-only settings a workspace or folder sets, which are ignored (to tell the user). */
export function ignoredWorkspaceSettings(config: SettingsReader): string[] {
  return USER_ONLY_KEYS.filter((key) => {
    const inspected = config.inspect<unknown>(key);
    return inspected?.workspaceValue !== undefined || inspected?.workspaceFolderValue !== undefined;
  }).map((key) => `${SECTION}.${key}`);
}

export function readSettings(config: SettingsReader, workspaceRoot: string): SidecarSettings {
  const trimmed = (value: unknown): string | undefined => {
    const text = typeof value === 'string' ? value.trim() : '';
    return text ? text : undefined;
  };
  const text = (key: string): string | undefined => trimmed(config.get<string>(key));
  const userText = (key: UserOnlyKey): string | undefined => trimmed(userValue<string>(config, key));
  const userFlag = (key: UserOnlyKey, fallback: boolean): boolean => {
    const value = userValue<boolean>(config, key);
    return typeof value === 'boolean' ? value : fallback;
  };

  // Model choices may come from a workspace: keys stay with the provider's own host, or
  // with the API base the user gave on the command line. The API base itself is a flag.
  const llm: LlmOptions = {};
  const model = text('model');
  const classifierModel = text('classifierModel');
  const timeoutSeconds = config.get<number | null>('timeoutSeconds');
  if (model) llm.model = model;
  if (classifierModel) llm.classifierModel = classifierModel;
  if (typeof timeoutSeconds === 'number' && timeoutSeconds > 0) llm.timeoutSeconds = timeoutSeconds;

  const approval: ApprovalOptions = {
    autoApprove: {
      read: userFlag('approval.autoApprove.read', true),
      write: userFlag('approval.autoApprove.write', false),
      command: userFlag('approval.autoApprove.command', false),
    },
    allowedCommands: strings(userValue(config, 'approval.allowedCommands')),
    deniedCommands: strings(userValue(config, 'approval.deniedCommands')),
    outsideWorkspace: userValue<string>(config, 'approval.outsideWorkspace') === 'deny' ? 'deny' : 'ask',
  };

  const initializationOptions: InitializationOptions = { workspaceRoot, llm, approval };
  const database = userText('database');
  if (database) initializationOptions.database = database;

  // A workspace may choose the log level: only one of the sidecar's, so nothing else reaches its command line.
  const level = text('logLevel')?.toUpperCase();
  const logLevel = level !== undefined && LOG_LEVELS.includes(level) ? level : 'INFO';
  const args = ['--stdio', '--log-level', logLevel];
  const apiBase = userText('apiBase');
  const apiKeyEnv = userText('apiKeyEnv');
  if (apiBase) args.push('--api-base', apiBase);
  if (apiKeyEnv) args.push('--api-key-env', apiKeyEnv);

  return {
    serverPath: userText('serverPath') ?? 'codelab-agent',
    args,
    initializationOptions,
    configuration: { codelabAgent: { llm, approval } },
  };
}

/** Whether the sidecar must start again for `next`: its executable, flags or database differ. */
export function needsRestart(running: SidecarSettings, next: SidecarSettings): boolean {
  return (
    running.serverPath !== next.serverPath ||
    running.args.join('\0') !== next.args.join('\0') ||
    running.initializationOptions.database !== next.initializationOptions.database
  );
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string' && v.trim() !== '') : [];
}

/* Generated from protocol/schema.json by scripts/gen-types.mjs (npm run gen:types). Do not edit. */

/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "PlanDecision".
 */
export type PlanDecision = 'approve' | 'reject' | 'revise';
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "AgentName".
 */
export type AgentName = 'orchestrator' | 'architect' | 'code' | 'debug' | 'explain';
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "TurnStatus".
 */
export type TurnStatus =
  'completed' | 'awaiting_tool_results' | 'awaiting_plan_approval' | 'awaiting_user_input' | 'failed' | 'cancelled';
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "DecidedBy".
 */
export type DecidedBy = 'policy' | 'session_rule' | 'user';
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "Decision".
 */
export type Decision = 'auto_approved' | 'ask' | 'refused' | 'approved' | 'rejected';
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "MessageRole".
 */
export type MessageRole = 'user' | 'assistant' | 'tool' | 'system';
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ExecutedBy".
 */
export type ExecutedBy = 'client' | 'server';
/**
 * A client tool call's life: sent and unanswered, answered, or cancelled.
 *
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ToolCallStatus".
 */
export type ToolCallStatus = 'pending' | 'answered' | 'cancelled';
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "PlanStatus".
 */
export type PlanStatus =
  'awaiting_approval' | 'in_progress' | 'paused' | 'completed' | 'failed' | 'cancelled' | 'rejected';
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "SubtaskStatus".
 */
export type SubtaskStatus = 'pending' | 'in_progress' | 'done' | 'failed' | 'skipped';
/**
 * The orchestrator's state machine, one per session (see `server/fsm.py`).
 *
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "SessionState".
 */
export type SessionState =
  | 'idle'
  | 'classifying'
  | 'plan_required'
  | 'architect_planning'
  | 'agent_running'
  | 'awaiting_tool_results'
  | 'awaiting_user_input'
  | 'awaiting_plan_approval'
  | 'executing_plan'
  | 'plan_paused';
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ToolCategory".
 */
export type ToolCategory = 'read' | 'write' | 'command' | 'plan' | 'meta';
/**
 * What `agent/sendMessage` may ask for: the classifier (`auto`) or one agent.
 *
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "Mode".
 */
export type Mode = 'auto' | 'code' | 'architect' | 'debug' | 'explain';
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ToolResultStatus".
 */
export type ToolResultStatus = 'success' | 'error' | 'rejected';
/**
 * `agent/status` events. Editors must ignore events they do not know.
 *
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "StatusEvent".
 */
export type StatusEvent =
  | 'classified'
  | 'agent_switched'
  | 'plan_created'
  | 'plan_approved'
  | 'plan_rejected'
  | 'plan_paused'
  | 'plan_resumed'
  | 'subtask_started'
  | 'subtask_completed'
  | 'subtask_failed'
  | 'subtask_skipped'
  | 'plan_completed'
  | 'plan_failed'
  | 'retrying'
  | 'nudged'
  | 'state_changed'
  | 'context_compacted'
  | 'mcp_server_failed'
  | 'server_tool_call';
/**
 * What a tool call touching a path outside the workspace root gets.
 *
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "OutsideWorkspace".
 */
export type OutsideWorkspace = 'ask' | 'deny';
/**
 * The classifier's `agent` field: a specialist, or `plan` for a complex task.
 *
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ClassifiedAgent".
 */
export type ClassifiedAgent = 'code' | 'plan' | 'debug' | 'explain';
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "Confidence".
 */
export type Confidence = 'high' | 'medium' | 'low';

/**
 * Every request (params and result), notification and tool of the wire protocol, by name.
 */
export interface WireContract {
  methods: {
    'agent/approvePlan': {
      params: ApprovePlanParams;
      result: TurnResult;
    };
    'agent/cancel': {
      params: CancelParams;
      result: CancelResult;
    };
    'agent/deleteSession': {
      params: DeleteSessionParams;
      result: DeleteSessionResult;
    };
    'agent/getSession': {
      params: GetSessionParams;
      result: GetSessionResult;
    };
    'agent/listSessions': {
      params: ListSessionsParams;
      result: ListSessionsResult;
    };
    'agent/resume': {
      params: ResumeParams;
      result: TurnResult;
    };
    'agent/retrySubtask': {
      params: RetrySubtaskParams;
      result: TurnResult;
    };
    'agent/sendMessage': {
      params: SendMessageParams;
      result: TurnResult;
    };
    'agent/skipSubtask': {
      params: SkipSubtaskParams;
      result: TurnResult;
    };
    'agent/toolResult': {
      params: ToolResultParams;
      result: TurnResult;
    };
  };
  notifications: {
    'agent/planUpdate': PlanUpdateNotification;
    'agent/status': StatusNotification;
    'agent/stream': StreamNotification;
    'agent/toolCall': ToolCallNotification;
  };
  tools: {
    ask_followup_question: AskFollowupQuestionArgs;
    attempt_completion: AttemptCompletionArgs;
    create_directory: CreateDirectoryArgs;
    create_plan: CreatePlanArgs;
    edit_file: EditFileArgs;
    execute_command: ExecuteCommandArgs;
    list_files: ListFilesArgs;
    read_file: ReadFileArgs;
    search_in_code: SearchInCodeArgs;
    switch_mode: SwitchModeArgs;
    write_file: WriteFileArgs;
  };
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ApprovePlanParams".
 */
export interface ApprovePlanParams {
  decision: PlanDecision;
  feedback?: string | null;
  planId: string;
  sessionId: string;
}
/**
 * What a request that starts or continues work returns at the turn's stop point.
 *
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "TurnResult".
 */
export interface TurnResult {
  agent: AgentName;
  error?: ErrorInfo | null;
  message?: string | null;
  pendingToolCalls: string[];
  planId?: string | null;
  sessionId: string;
  status: TurnStatus;
  turnId: string;
  /**
   * The turn's own requests, tokens and cost so far.
   */
  usage?: TurnUsage | null;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ErrorInfo".
 */
export interface ErrorInfo {
  code: number;
  message: string;
}
/**
 * A turn's own model usage, across its agents, from its first request so far.
 *
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "TurnUsage".
 */
export interface TurnUsage {
  /**
   * Input tokens the provider served from its prompt cache.
   */
  cachedTokens: number;
  completionTokens: number;
  /**
   * USD by litellm's offline price map; absent when a request's price is unknown (never a partial sum).
   */
  costUsd?: number | null;
  /**
   * Input tokens, cached ones included.
   */
  promptTokens: number;
  requests: number;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "CancelParams".
 */
export interface CancelParams {
  sessionId: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "CancelResult".
 */
export interface CancelResult {
  cancelled: boolean;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "DeleteSessionParams".
 */
export interface DeleteSessionParams {
  sessionId: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "DeleteSessionResult".
 */
export interface DeleteSessionResult {
  deleted: boolean;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "GetSessionParams".
 */
export interface GetSessionParams {
  sessionId: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "GetSessionResult".
 */
export interface GetSessionResult {
  approvals: ApprovalRecord[];
  messages: MessageInfo[];
  pendingToolCalls: PendingToolCall[];
  plan?: Plan | null;
  /**
   * Every version of the session's plans, oldest first.
   */
  planVersions: Plan[];
  session: SessionInfo;
  /**
   * The MCP tools the session's agents may be offered (`executedBy: "server"`, with their server), as last listed; absent when no MCP server is configured.
   */
  tools?: ToolInfo[] | null;
  usage: UsageInfo;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ApprovalRecord".
 */
export interface ApprovalRecord {
  at: string;
  callId: string;
  decidedBy: DecidedBy;
  decision: Decision;
  reason: string;
  tool: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "MessageInfo".
 */
export interface MessageInfo {
  agent?: AgentName | null;
  content: string;
  createdAt: string;
  id: number;
  kind: string;
  /**
   * What a `summary` or `elision` row records: the seqs it covers, tokens before and after.
   */
  meta?: {
    [k: string]: unknown | undefined;
  } | null;
  planId?: string | null;
  role: MessageRole;
  subtaskId?: string | null;
  toolCallId?: string | null;
  toolCalls?:
    | {
        [k: string]: unknown | undefined;
      }[]
    | null;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "PendingToolCall".
 */
export interface PendingToolCall {
  arguments: {
    [k: string]: unknown | undefined;
  };
  callId: string;
  /**
   * "server": an MCP tool the sidecar runs.
   */
  executedBy?: ExecutedBy | null;
  name: string;
  planId?: string | null;
  reason?: string | null;
  requiresApproval: boolean;
  server?: string | null;
  status: ToolCallStatus;
  subtaskId?: string | null;
  turnId: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "Plan".
 */
export interface Plan {
  /**
   * The revision feedback this version answers.
   */
  feedback?: string | null;
  goal: string;
  id: string;
  sessionId: string;
  status: PlanStatus;
  subtasks: Subtask[];
  version: number;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "Subtask".
 */
export interface Subtask {
  agent: AgentName;
  dependencies: string[];
  description: string;
  id: string;
  result?: string | null;
  status: SubtaskStatus;
  title: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "SessionInfo".
 */
export interface SessionInfo {
  activePlanId?: string | null;
  createdAt: string;
  currentAgent: AgentName;
  id: string;
  /**
   * A step was cut off (crash); `agent/resume` continues it.
   */
  interrupted: boolean;
  state: SessionState;
  switchCount: number;
  title: string;
  turnId?: string | null;
  updatedAt: string;
  /**
   * The workspace the session works in.
   */
  workspaceRoot?: string | null;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ToolInfo".
 */
export interface ToolInfo {
  category: ToolCategory;
  description: string;
  executedBy: ExecutedBy;
  name: string;
  parameters: {
    [k: string]: unknown | undefined;
  };
  /**
   * The MCP server that runs the tool (`mcp__<server>__<tool>`); absent for built-in tools.
   */
  server?: string | null;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "UsageInfo".
 */
export interface UsageInfo {
  byAgent: {
    [k: string]: AgentUsage | undefined;
  };
  total: AgentUsage | undefined;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "AgentUsage".
 */
export interface AgentUsage {
  /**
   * Input tokens the provider served from its prompt cache.
   */
  cachedTokens: number;
  completionTokens: number;
  /**
   * USD by litellm's offline price map; absent when any request's price is unknown (never a partial sum).
   */
  costUsd?: number | null;
  durationMs: number;
  nudges: number;
  /**
   * Input tokens, cached ones included.
   */
  promptTokens: number;
  requests: number;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ListSessionsParams".
 */
export interface ListSessionsParams {
  /**
   * List every workspace's sessions, not only this one's.
   */
  allWorkspaces?: boolean;
  cursor?: string | null;
  limit?: number;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ListSessionsResult".
 */
export interface ListSessionsResult {
  nextCursor?: string | null;
  sessions: SessionInfo[];
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ResumeParams".
 */
export interface ResumeParams {
  sessionId: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "RetrySubtaskParams".
 */
export interface RetrySubtaskParams {
  planId: string;
  sessionId: string;
  subtaskId: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "SendMessageParams".
 */
export interface SendMessageParams {
  mode?: Mode;
  /**
   * Absent: a new session.
   */
  sessionId?: string | null;
  text: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "SkipSubtaskParams".
 */
export interface SkipSubtaskParams {
  planId: string;
  sessionId: string;
  subtaskId: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ToolResultParams".
 */
export interface ToolResultParams {
  callId: string;
  content?: string | null;
  feedback?: string | null;
  remember?: boolean;
  sessionId: string;
  status: ToolResultStatus;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "PlanUpdateNotification".
 */
export interface PlanUpdateNotification {
  plan: Plan;
  sessionId: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "StatusNotification".
 */
export interface StatusNotification {
  /**
   * The same, for programs.
   */
  data?: {
    [k: string]: unknown | undefined;
  } | null;
  /**
   * A line for people.
   */
  detail: string;
  event: StatusEvent;
  sessionId: string;
  turnId: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "StreamNotification".
 */
export interface StreamNotification {
  agent: AgentName;
  delta: string;
  /**
   * "thought": the model's reasoning, for clients to show dimmed or folded; absent (or "text"): the assistant's text.
   */
  kind?: ('text' | 'thought') | null;
  sessionId: string;
  turnId: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ToolCallNotification".
 */
export interface ToolCallNotification {
  /**
   * The tool's arguments, snake_case as in the tool schema.
   */
  arguments: {
    [k: string]: unknown | undefined;
  };
  callId: string;
  /**
   * "server": the sidecar runs this call (an MCP tool) once the user approves it; the editor only asks and answers `agent/toolResult` with `success` (run it) or `rejected`, and never executes it. Absent: the editor executes the call.
   */
  executedBy?: ExecutedBy | null;
  name: string;
  planId?: string | null;
  reason?: string | null;
  requiresApproval: boolean;
  /**
   * The MCP server of a server-executed call.
   */
  server?: string | null;
  sessionId: string;
  subtaskId?: string | null;
  turnId: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "AskFollowupQuestionArgs".
 */
export interface AskFollowupQuestionArgs {
  /**
   * The question for the user.
   */
  question: string;
  /**
   * Possible answers the user can pick.
   */
  suggestions?: string[] | null;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "AttemptCompletionArgs".
 */
export interface AttemptCompletionArgs {
  /**
   * Set it when you cannot complete the task; say why in result.
   */
  failed?: boolean;
  /**
   * What was done, for the user (or for the subtasks that depend on this one).
   */
  result: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "CreateDirectoryArgs".
 */
export interface CreateDirectoryArgs {
  /**
   * Directory to create (with its parents).
   */
  path: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "CreatePlanArgs".
 */
export interface CreatePlanArgs {
  /**
   * What the whole plan achieves.
   */
  goal: string;
  /**
   * The subtasks, in the order to run them.
   *
   * @minItems 1
   */
  subtasks: [PlanSubtaskArgs, ...PlanSubtaskArgs[]];
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "PlanSubtaskArgs".
 */
export interface PlanSubtaskArgs {
  /**
   * The agent that executes the subtask.
   */
  agent: 'code' | 'debug' | 'explain';
  /**
   * Ids of subtasks that must be done first.
   */
  dependencies?: string[];
  /**
   * What to do, precisely enough for another agent to do it alone.
   */
  description?: string;
  /**
   * Short unique id, e.g. 's1'.
   */
  id: string;
  /**
   * One line saying what the subtask does.
   */
  title: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "EditFileArgs".
 */
export interface EditFileArgs {
  /**
   * Replacement text.
   */
  new_text: string;
  /**
   * Exact text to replace; it must occur exactly once in the file.
   */
  old_text: string;
  /**
   * File to edit.
   */
  path: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ExecuteCommandArgs".
 */
export interface ExecuteCommandArgs {
  /**
   * Shell command line to run.
   */
  command: string;
  /**
   * Working directory; the workspace root by default.
   */
  cwd?: string | null;
  /**
   * Kill the command after this long.
   */
  timeout_seconds?: number | null;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ListFilesArgs".
 */
export interface ListFilesArgs {
  /**
   * Directory to list.
   */
  path?: string;
  /**
   * List subdirectories too.
   */
  recursive?: boolean;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ReadFileArgs".
 */
export interface ReadFileArgs {
  /**
   * Last line to read (inclusive).
   */
  end_line?: number | null;
  /**
   * File path, relative to the workspace root or absolute.
   */
  path: string;
  /**
   * First line to read (1-based).
   */
  start_line?: number | null;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "SearchInCodeArgs".
 */
export interface SearchInCodeArgs {
  /**
   * Treat the query as a regular expression.
   */
  is_regex?: boolean;
  /**
   * Directory or file to search in; the workspace by default.
   */
  path?: string | null;
  /**
   * Text (or regular expression) to search for.
   */
  query: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "SwitchModeArgs".
 */
export interface SwitchModeArgs {
  /**
   * The agent to hand the conversation to.
   */
  mode: 'code' | 'architect' | 'debug' | 'explain';
  /**
   * Why the other agent fits better.
   */
  reason: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "WriteFileArgs".
 */
export interface WriteFileArgs {
  /**
   * The complete new content of the file.
   */
  content: string;
  /**
   * File to create or overwrite.
   */
  path: string;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "AgentCapability".
 */
export interface AgentCapability {
  agents: AgentInfo[];
  protocolVersion: number;
  tools: ToolInfo[];
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "AgentInfo".
 */
export interface AgentInfo {
  description: string;
  name: AgentName;
  tools: string[];
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ApprovalOptions".
 */
export interface ApprovalOptions {
  allowedCommands?: string[] | null;
  /**
   * MCP tools that run without asking, as glob patterns over `<server>__<tool>` or the full `mcp__<server>__<tool>` (`git__*`, `time__get_current_time`). Tools annotated destructive always ask.
   */
  allowedMcpTools?: string[] | null;
  autoApprove?: AutoApproveOptions | null;
  deniedCommands?: string[] | null;
  outsideWorkspace?: OutsideWorkspace | null;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "AutoApproveOptions".
 */
export interface AutoApproveOptions {
  command?: boolean | null;
  read?: boolean | null;
  write?: boolean | null;
}
/**
 * The JSON object the classifier model must answer with (snake_case, as the
 * model writes it). `is_atomic == False` implies `agent == "plan"`.
 *
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ClassifierAnswer".
 */
export interface ClassifierAnswer {
  agent: ClassifiedAgent;
  confidence: Confidence;
  is_atomic: boolean;
  reason: string;
}
/**
 * `workspace/didChangeConfiguration` settings: the live-changeable subset,
 * either as `settings` itself or under `settings.codelabAgent`.
 *
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "ConfigurationSettings".
 */
export interface ConfigurationSettings {
  approval?: ApprovalOptions | null;
  llm?: LlmOptions | null;
}
/**
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "LlmOptions".
 */
export interface LlmOptions {
  apiBase?: string | null;
  classifierModel?: string | null;
  /**
   * The model that writes compaction summaries (default: the agent's).
   */
  compactionModel?: string | null;
  /**
   * Compact the prompt when it would pass this share of the window.
   */
  compactionThreshold?: number | null;
  /**
   * Tokens the model takes in (default: litellm's model map).
   */
  contextWindow?: number | null;
  maxRetries?: number | null;
  model?: string | null;
  timeoutSeconds?: number | null;
}
/**
 * Every field optional; what is given overrides flags, environment and defaults.
 *
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "InitializationOptions".
 */
export interface InitializationOptions {
  approval?: ApprovalOptions | null;
  database?: string | null;
  limits?: LimitsOptions | null;
  llm?: LlmOptions | null;
  /**
   * MCP servers whose tools the agents may use, by name: `{command, args?, env?}` (stdio) or `{url, headers?}` (streamable HTTP); also read from `$XDG_CONFIG_HOME/codelab-agent/mcp.json`.
   */
  mcpServers?: {
    [k: string]: unknown | undefined;
  } | null;
  workspaceRoot?: string | null;
}
/**
 * An extension of PROTOCOL.md's options: the sidecar's budgets.
 *
 * This interface was referenced by `WireContract`'s JSON-Schema
 * via the `definition` "LimitsOptions".
 */
export interface LimitsOptions {
  maxMessageBytes?: number | null;
  /**
   * Model calls per turn (per subtask in a plan).
   */
  maxSteps?: number | null;
  maxToolResultBytes?: number | null;
  /**
   * Longer tool results are shown to the model cut to head and tail.
   */
  maxViewResultChars?: number | null;
}

export const PROTOCOL_VERSION = 1;

export const ERROR_CODES = {
  INTERNAL_ERROR: -32603,
  INVALID_PARAMS: -32602,
  INVALID_REQUEST: -32600,
  INVALID_STATE: -32014,
  METHOD_NOT_FOUND: -32601,
  MODEL_ERROR: -32015,
  PARSE_ERROR: -32700,
  PAYLOAD_TOO_LARGE: -32016,
  REQUEST_CANCELLED: -32800,
  SERVER_NOT_INITIALIZED: -32002,
  SESSION_BUSY: -32011,
  SESSION_NOT_FOUND: -32010,
  TOOL_CALL_ALREADY_ANSWERED: -32013,
  UNKNOWN_TOOL_CALL: -32012,
} as const;

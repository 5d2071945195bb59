/** The messages between the chat webview and the extension (both directions). */
import type { ChatEvent } from '../core/controller';
import type { Mode, PlanDecision } from '../protocol';

/** The user's answer to a tool call asked in the chat. */
export type Decision = 'approve' | 'always' | 'reject';

export type FromView =
  | { type: 'ready' }
  | { type: 'send'; text: string; mode: Mode }
  | { type: 'plan'; decision: PlanDecision }
  | { type: 'retry'; subtaskId: string }
  | { type: 'skip'; subtaskId: string }
  | { type: 'resume' }
  | { type: 'cancel' }
  | { type: 'new' }
  | { type: 'sessions' }
  | { type: 'approval'; callId: string; decision: Decision; feedback?: string }
  | { type: 'diff'; callId: string };

export type ServerState = 'starting' | 'running' | 'stopped';

export type ToView =
  | { type: 'event'; event: ChatEvent }
  | { type: 'server'; state: ServerState; message?: string }
  /** Text for the composer: the selection or the file the user sends as context. */
  | { type: 'context'; text: string };

/** The messages between the chat webview and the extension (both directions). */
import type { ChatEvent } from '../core/controller';
import type { Mode, PlanDecision } from '../protocol';

export type FromView =
  | { type: 'ready' }
  | { type: 'send'; text: string; mode: Mode }
  | { type: 'plan'; decision: PlanDecision }
  | { type: 'retry'; subtaskId: string }
  | { type: 'skip'; subtaskId: string }
  | { type: 'resume' }
  | { type: 'cancel' }
  | { type: 'new' }
  | { type: 'sessions' };

export type ServerState = 'starting' | 'running' | 'stopped';

export type ToView = { type: 'event'; event: ChatEvent } | { type: 'server'; state: ServerState; message?: string };

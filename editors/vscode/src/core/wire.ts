/**
 * The typed view of the JSON-RPC connection to the sidecar. Method names and their
 * params/result types come from the generated `WireContract` (src/protocol.ts).
 *
 * vscode-languageclient's `LanguageClient` and vscode-jsonrpc's `MessageConnection`
 * both satisfy `Connection` with their stock `sendRequest` / `onNotification`.
 */
import { ERROR_CODES, type WireContract } from '../protocol';

export type Methods = WireContract['methods'];
export type MethodName = keyof Methods;
export type Params<M extends MethodName> = Methods[M]['params'];
export type Result<M extends MethodName> = Methods[M]['result'];
export type Notifications = WireContract['notifications'];
export type NotificationName = keyof Notifications;

export interface Disposable {
  dispose(): void;
}

export interface Connection {
  sendRequest<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>>;
  onNotification<N extends NotificationName>(method: N, handler: (params: Notifications[N]) => void): Disposable;
}

export type ErrorName = keyof typeof ERROR_CODES;

/** The JSON-RPC error code of a rejected request, if it has one. */
export function errorCode(error: unknown): number | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'number' ? code : undefined;
  }
  return undefined;
}

export function isError(error: unknown, name: ErrorName): boolean {
  return errorCode(error) === ERROR_CODES[name];
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

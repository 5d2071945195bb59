/** Starting the sidecar with vscode-languageclient: `codelab-agent --stdio` as a language server. */
import type * as vscode from 'vscode';
import { LanguageClient, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import type { SidecarSettings } from '../core/settings';

export function createClient(settings: SidecarSettings, cwd: string, output: vscode.OutputChannel): LanguageClient {
  // `codelab.trace.server` traces the traffic (the client's id is `codelab`).
  // No `transport`: the client would add its own `--stdio`; ours is in `settings.args`.
  const server: ServerOptions = { command: settings.serverPath, args: settings.args, options: { cwd } };
  const options: LanguageClientOptions = {
    // The sidecar serves no documents: nothing to synchronize.
    documentSelector: [],
    initializationOptions: settings.initializationOptions,
    outputChannel: output,
    // Settings changes are sent by the extension in the sidecar's own shape ({codelabAgent: {llm, approval}}).
    synchronize: {},
  };
  return new LanguageClient('codelab', 'Codelab Agent', server, options);
}

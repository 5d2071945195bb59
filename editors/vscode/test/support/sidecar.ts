/**
 * The real sidecar for integration tests: `codelab-agent --stdio --model demo` as a
 * child process, spoken to with vscode-jsonrpc (the library under
 * vscode-languageclient), with the LSP handshake done here.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createMessageConnection,
  type MessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
} from 'vscode-jsonrpc/node';

const REPO_ROOT = path.resolve(__dirname, '../../../..');

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `CODELAB_AGENT_SERVER`, else `codelab-agent` on PATH, else the repository's `.venv`. */
export function findServer(): string | undefined {
  const explicit = process.env['CODELAB_AGENT_SERVER'];
  if (explicit) return explicit;
  const name = process.platform === 'win32' ? 'codelab-agent.exe' : 'codelab-agent';
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (dir && executable(path.join(dir, name))) return path.join(dir, name);
  }
  const venv = path.join(REPO_ROOT, '.venv', 'bin', name);
  return executable(venv) ? venv : undefined;
}

export interface Sidecar {
  connection: MessageConnection;
  initializeResult: { serverInfo?: { name: string }; capabilities: { experimental?: Record<string, unknown> } };
  /** `$/progress` values, as the sidecar reported them while plans ran. */
  progress: unknown[];
  stderr(): string;
  stop(): Promise<void>;
}

export async function startSidecar(server: string, workspace: string, database: string): Promise<Sidecar> {
  // No provider keys: the demo model must be what answers.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.endsWith('_API_KEY')));
  const child: ChildProcessWithoutNullStreams = spawn(
    server,
    ['--stdio', '--model', 'demo', '--db', database, '--log-level', 'WARNING'],
    { cwd: workspace, env },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const connection = createMessageConnection(
    new StreamMessageReader(child.stdout),
    new StreamMessageWriter(child.stdin),
  );
  const progress: unknown[] = [];
  connection.onRequest('window/workDoneProgress/create', () => null);
  connection.onNotification('$/progress', (params: { value: unknown }) => progress.push(params.value));
  connection.listen();
  const initializeResult = (await Promise.race([
    connection.sendRequest('initialize', {
      processId: process.pid,
      clientInfo: { name: 'codelab-agent-vscode-tests' },
      rootUri: pathToFileURL(workspace).href,
      workspaceFolders: [{ uri: pathToFileURL(workspace).href, name: path.basename(workspace) }],
      capabilities: { window: { workDoneProgress: true } },
      initializationOptions: { workspaceRoot: workspace },
    }),
    exited.then((code) => {
      throw new Error(`the sidecar exited (${code}) before answering initialize:\n${stderr}`);
    }),
  ])) as Sidecar['initializeResult'];
  await connection.sendNotification('initialized', {});
  return {
    connection,
    initializeResult,
    progress,
    stderr: () => stderr,
    async stop() {
      try {
        await connection.sendRequest('shutdown');
        await connection.sendNotification('exit');
      } finally {
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
        connection.dispose();
      }
    },
  };
}

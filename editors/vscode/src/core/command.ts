/** Running a shell command for `execute_command`: a child process with a deadline. */
import { spawn } from 'node:child_process';

export interface CommandOutput {
  /** null when the process was killed (timeout, cancellation) or died of a signal. */
  exitCode: number | null;
  /** stdout and stderr interleaved as they arrived, the last `maxOutput` characters. */
  output: string;
  timedOut: boolean;
  aborted: boolean;
}

export const MAX_OUTPUT = 64 * 1024;

export function runCommand(
  command: string,
  cwd: string,
  timeoutSeconds: number,
  signal?: AbortSignal,
  maxOutput = MAX_OUTPUT,
): Promise<CommandOutput> {
  return new Promise((resolve, reject) => {
    // Its own process group on POSIX, so a timeout kills the shell's children too.
    const group = process.platform !== 'win32';
    const child = spawn(command, { cwd, shell: true, stdio: ['ignore', 'pipe', 'pipe'], detached: group });
    let output = '';
    let timedOut = false;
    let aborted = false;
    const collect = (chunk: string): void => {
      output += chunk;
      if (output.length > 2 * maxOutput) output = output.slice(-maxOutput);
    };
    const kill = (): void => {
      try {
        if (group && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutSeconds * 1000);
    const onAbort = (): void => {
      aborted = true;
      kill();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    // Decoded as streams, so a character split between two chunks stays whole.
    child.stdout.setEncoding('utf8').on('data', collect);
    child.stderr.setEncoding('utf8').on('data', collect);
    child.on('error', (error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve({ exitCode: code, output: output.slice(-maxOutput), timedOut, aborted });
    });
  });
}

/**
 * Makes `require('vscode')` load the stub (./vscode.ts). Import this module before any
 * module under src/editor/: VS Code itself is not available to the tests.
 */
import Module from 'node:module';

type Resolve = (this: unknown, request: string, ...rest: unknown[]) => string;

const loader = Module as unknown as { _resolveFilename: Resolve };
const original = loader._resolveFilename;
const stub = require.resolve('./vscode');

loader._resolveFilename = function resolve(this: unknown, request: string, ...rest: unknown[]): string {
  return request === 'vscode' ? stub : original.call(this, request, ...rest);
};

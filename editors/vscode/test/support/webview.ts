/**
 * The chat webview as VS Code would run it, in jsdom: the page of ChatView with the
 * bundle of src/webview/main.ts (built here by esbuild, as scripts/build.mjs does), its
 * messages to the extension recorded and passed on, and the extension's messages
 * delivered as `message` events.
 */
import * as path from 'node:path';
import { build } from 'esbuild';
import { JSDOM } from 'jsdom';
import { chatPage } from '../../src/editor/chatView';
import type { FromView, ToView } from '../../src/webview/messages';

let bundle: Promise<string> | undefined;

function webviewBundle(): Promise<string> {
  bundle ??= build({
    entryPoints: [path.resolve(__dirname, '../../src/webview/main.ts')],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    logLevel: 'warning',
  }).then((result) => result.outputFiles[0]?.text ?? '');
  return bundle;
}

export interface ChatPage {
  window: Window & typeof globalThis;
  document: Document;
  /** What the page posted to the extension, in order. */
  sent: FromView[];
  deliver(message: ToView): void;
  /** Types `text` into the composer and presses Send. */
  type(text: string, mode?: string): void;
  buttons(root: ParentNode): string[];
  click(root: ParentNode, label: string): void;
  close(): void;
}

/** Loads the chat; `onMessage` gets what it posts (after it is recorded in `sent`). */
export async function loadChat(onMessage: (message: FromView) => void): Promise<ChatPage> {
  const dom = new JSDOM(chatPage({ cspSource: 'vscode-resource:', nonce: 'test', script: '', style: '' }), {
    runScripts: 'outside-only',
  });
  const window = dom.window as unknown as Window & typeof globalThis;
  const sent: FromView[] = [];
  (window as unknown as { acquireVsCodeApi: unknown }).acquireVsCodeApi = () => ({
    // Copied, as VS Code copies what a webview posts (and out of jsdom's realm).
    postMessage: (posted: FromView) => {
      const message = JSON.parse(JSON.stringify(posted)) as FromView;
      sent.push(message);
      onMessage(message);
    },
  });
  window.eval(await webviewBundle());
  const document = window.document;
  const buttons = (root: ParentNode): HTMLButtonElement[] => [...root.querySelectorAll('button')];
  return {
    window,
    document,
    sent,
    deliver: (message) =>
      window.dispatchEvent(new window.MessageEvent('message', { data: JSON.parse(JSON.stringify(message)) })),
    type(text, mode = 'auto') {
      (document.getElementById('text') as HTMLTextAreaElement).value = text;
      (document.getElementById('mode') as HTMLSelectElement).value = mode;
      (document.getElementById('send') as HTMLButtonElement).click();
    },
    buttons: (root) => buttons(root).map((b) => b.textContent ?? ''),
    click(root, label) {
      const button = buttons(root).find((b) => b.textContent === label);
      if (button === undefined) throw new Error(`no button ${label} in ${(root as Element).outerHTML}`);
      button.click();
    },
    close: () => dom.window.close(),
  };
}

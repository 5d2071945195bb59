/**
 * Markdown in the chat: the agents' text, results and questions are rendered with
 * markdown-it, then sanitised with DOMPurify before they reach the page. markdown-it
 * already escapes raw HTML (`html: false`) and refuses `javascript:` links; DOMPurify is
 * the second wall, so that nothing a model writes can run a script in the webview.
 */
import createDOMPurify, { type WindowLike } from 'dompurify';
import MarkdownIt from 'markdown-it';

/** Turns Markdown into HTML that is safe to assign to `innerHTML`. */
export type RenderMarkdown = (markdown: string) => string;

/** What is kept after sanitising: no styles (the webview's CSP refuses them), no forms or media. */
const FORBID_TAGS = ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object', 'embed', 'img'];
const FORBID_ATTR = ['style', 'class', 'id'];

/** A renderer bound to `window` (the webview's own, or a test's jsdom window). */
export function markdownRenderer(window: WindowLike): RenderMarkdown {
  const md = new MarkdownIt({ html: false, linkify: true, breaks: false, typographer: false });
  const purify = createDOMPurify(window);
  // Links open outside the webview, and never say where they came from.
  purify.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A') {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer');
    }
  });
  return (markdown) =>
    purify.sanitize(md.render(markdown), {
      FORBID_TAGS,
      FORBID_ATTR,
      ALLOW_DATA_ATTR: false,
      ADD_ATTR: ['target'],
    });
}

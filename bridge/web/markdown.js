// Replies as Markdown, made safe: the model's text is untrusted.
//
// marked turns the text into HTML, with raw HTML in the text shown as text
// and code blocks holding their text exactly; DOMPurify then keeps only the
// elements and attributes Markdown makes (no script, no style, no event
// handlers, no forms or frames), and links only to http, https and mailto,
// opened without access to this page. The result is a DOM fragment, never
// HTML assigned to the page.

import { Marked } from "./vendor/marked.esm.js";
import DOMPurify from "./vendor/purify.es.mjs";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const marked = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    // The model's HTML is text to show, not markup to run or style with.
    html({ text }) {
      return escapeHtml(text);
    },
    // The code's text as it came (marked would add a newline at the end).
    code({ text, lang }) {
      const language = (lang || "").match(/^\S*/)[0];
      const attribute = language ? ` class="language-${escapeHtml(language)}"` : "";
      return `<pre><code${attribute}>${escapeHtml(text)}</code></pre>\n`;
    },
  },
});

const ALLOWED_TAGS = [
  "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
  "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
];
const ALLOWED_ATTR = ["href", "title", "class", "start", "align"];
const SAFE_LINK = /^(https?:|mailto:)/i;

const purify = DOMPurify(window);
purify.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName === "A") {
    const href = node.getAttribute("href") || "";
    if (!SAFE_LINK.test(href.trim())) node.removeAttribute("href");
    node.setAttribute("rel", "noopener noreferrer");
    node.setAttribute("target", "_blank");
  }
  if (node.hasAttribute("class") && !/^language-[\w+#.-]*$/.test(node.getAttribute("class"))) {
    node.removeAttribute("class");
  }
});

const CONFIG = {
  ALLOWED_TAGS,
  ALLOWED_ATTR,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  ALLOWED_URI_REGEXP: SAFE_LINK,
  RETURN_DOM_FRAGMENT: true,
};

/** The Markdown text as a sanitised DOM fragment. */
export function renderMarkdown(text) {
  return purify.sanitize(marked.parse(text || ""), CONFIG);
}

/** Puts the rendered Markdown of text into element, replacing what it held. */
export function showMarkdown(element, text) {
  element.replaceChildren(renderMarkdown(text));
}

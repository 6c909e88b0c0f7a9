// The conversation: the stored messages of a session, and the reply of a
// running turn as its events arrive.
//
// A streaming reply re-renders its Markdown at most once per animation frame,
// however many deltas arrive in between. Model text only ever reaches the
// page through renderMarkdown (sanitised) or textContent.

import { AgentBlocks, storedAgentBlock } from "./agents.js";
import { el } from "./dom.js";
import { showMarkdown } from "./markdown.js";

function button(label, onClick) {
  const node = el("button", "small", label);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

const PARTIAL_LABELS = {
  cancelled: "stopped",
  deadline_exceeded: "stopped: took too long",
  ollama_error: "stopped: the model failed",
  shutdown: "stopped: the server shut down",
  in_progress: "still being written",
  interrupted: "interrupted",
};

export function partialLabel(reason) {
  return PARTIAL_LABELS[reason] || `stopped (${reason})`;
}

function thinkingBlock(text) {
  const details = el("details", "thinking");
  details.append(el("summary", null, "Thinking"), el("div", "thinking-text", text));
  return details;
}

function toolCallBlock(name, args, note) {
  const block = el("div", "tool-call");
  const title = el("div", "tool-title");
  title.append(el("span", "tool-label", "Tool call"), " ", el("code", null, name));
  if (note) title.append(" ", el("span", "tool-note", note));
  block.append(title, el("pre", "tool-args", JSON.stringify(args ?? {}, null, 2)));
  return block;
}

function toolResultBlock(name, text, failed) {
  const block = el("div", failed ? "tool-result failed" : "tool-result");
  const title = el("div", "tool-title");
  title.append(el("span", "tool-label", failed ? "Tool failed" : "Tool result"), " ", el("code", null, name || "tool"));
  block.append(title, el("pre", "tool-output", text));
  return block;
}

function partialMark(reason) {
  return el("div", `partial partial-${reason}`, partialLabel(reason));
}

/**
 * Renders a session's messages. actions: { onEdit(index, content),
 * onRegenerate() }; busy disables them (a turn is running).
 */
export function renderMessages(container, messages, actions, busy) {
  container.replaceChildren();
  const lastAssistant = messages.findLastIndex((m) => m.role === "assistant");
  const lastIsReply = lastAssistant >= 0 && lastAssistant === messages.length - 1;
  let group = null;
  messages.forEach((message, index) => {
    if (message.role === "system") {
      const note = el("details", "system-note");
      const source = message.source_file ? ` (${message.source_file})` : "";
      note.append(el("summary", null, `System prompt${source}`), el("div", "system-text", message.content));
      container.append(note);
      group = null;
      return;
    }
    if (message.role === "user") {
      const item = el("article", "message user");
      item.setAttribute("aria-label", "Your message");
      item.append(el("div", "user-text", message.content));
      const tools = el("div", "message-actions");
      const edit = button("Edit", () => actions.onEdit(index, message.content));
      edit.disabled = busy;
      tools.append(edit);
      item.append(tools);
      container.append(item);
      group = null;
      return;
    }
    // The assistant's messages and tool results of one turn form one reply.
    if (!group) {
      group = el("article", "message assistant");
      group.setAttribute("aria-label", "Reply");
      container.append(group);
    }
    if (message.role === "tool") {
      const agent = message.tool_name === "agent" ? storedAgentBlock(message.content) : null;
      group.append(agent || toolResultBlock(message.tool_name, message.content, false));
      return;
    }
    if (message.thinking) group.append(thinkingBlock(message.thinking));
    if (message.content) {
      const body = el("div", "markdown");
      showMarkdown(body, message.content);
      group.append(body);
    }
    for (const toolCall of message.tool_calls || []) {
      group.append(toolCallBlock(toolCall.function.name, toolCall.function.arguments));
    }
    if (message.partial_reason) group.append(partialMark(message.partial_reason));
    if (index === lastAssistant && lastIsReply) {
      const tools = el("div", "message-actions");
      const regenerate = button("Regenerate", actions.onRegenerate);
      regenerate.disabled = busy;
      tools.append(regenerate);
      group.append(tools);
    }
  });
}

/** A user message shown as soon as it is sent, before the session is reloaded. */
export function appendUserMessage(container, text) {
  const item = el("article", "message user");
  item.setAttribute("aria-label", "Your message");
  item.append(el("div", "user-text", text));
  container.append(item);
}

/** The reply of a running turn, built from its events. */
export class LiveReply {
  constructor(container) {
    this.element = el("article", "message assistant streaming");
    this.element.setAttribute("aria-label", "Reply");
    this.element.setAttribute("aria-busy", "true");
    container.append(this.element);
    this.segment = null;
    this.frame = 0;
    this.agents = new AgentBlocks(this.element);
  }

  /** The text block being written (a new one after each tool round). */
  current() {
    if (!this.segment) {
      this.segment = { thinking: "", content: "", thinkingNode: null, body: null };
    }
    return this.segment;
  }

  thinking(text) {
    const segment = this.current();
    segment.thinking += text;
    if (!segment.thinkingNode) {
      const block = thinkingBlock("");
      segment.thinkingNode = block.querySelector(".thinking-text");
      if (segment.body) this.element.insertBefore(block, segment.body);
      else this.element.append(block);
    }
    segment.thinkingNode.textContent = segment.thinking;
  }

  content(text) {
    const segment = this.current();
    segment.content += text;
    if (!segment.body) {
      segment.body = el("div", "markdown");
      this.element.append(segment.body);
    }
    this.schedule();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.flush();
    });
  }

  flush() {
    const segment = this.segment;
    if (segment && segment.body) showMarkdown(segment.body, segment.content);
  }

  /** A tool call (waiting for an answer when note says so). */
  toolCall(name, args, note) {
    this.flush();
    this.segment = null;
    const block = toolCallBlock(name, args, note);
    this.element.append(block);
    return block;
  }

  toolResult(name, result, error) {
    // An agent's block already shows what it produced.
    if (name === "agent" && this.agents.shows(result, Boolean(error))) return;
    this.element.append(toolResultBlock(name, error ? error : result, Boolean(error)));
  }

  /** An agent_* event: the work of an agent the model called. */
  agent(name, payload) {
    this.flush();
    this.segment = null;
    this.agents.show(name, payload);
  }

  end(reason) {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.flush();
    this.agents.end(reason ? partialLabel(reason) : "stopped");
    this.element.removeAttribute("aria-busy");
    this.element.classList.remove("streaming");
    if (reason) this.element.append(partialMark(reason));
  }
}

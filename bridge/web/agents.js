// An agent's work inside a reply, as the turn's agent_* events tell it, in
// the order they come between the `agent` tool's call and its result: a
// collapsible block with the agent's name and instruction, its plan, its work
// (the text between its tool calls), each of its tool calls and results, and
// its end with the agent's own session id. Everything in it is the models'
// text and goes in as textContent, never as HTML.
//
// A finished block is kept by its output (the `agent` tool's result), so the
// reply shown again from the stored messages after the turn shows the block
// in place of that result; after a reload it is the stored result again.

import { el } from "./dom.js";

// output → the block that produced it, for this page's life.
const finished = new Map();

/** The finished block whose output is `result`, when this page saw it and shows it nowhere now. */
export function storedAgentBlock(result) {
  const block = finished.get(result);
  return block && !block.isConnected ? block : null;
}

class AgentBlock {
  constructor(agentName, instruction) {
    this.element = el("details", "agent");
    this.element.open = true;
    this.status = el("span", "agent-status", "working");
    const summary = el("summary");
    summary.append(el("span", "agent-label", "Agent"), " ", el("code", null, agentName || "agent"), " ", this.status);
    this.element.append(summary, el("div", "agent-instruction", instruction || ""));
    this.plan = null;
    this.working = false;
    this.work = null;
    this.output = null;
  }

  /** The "Work" heading, before the first of the agent's work. */
  startWork() {
    if (this.working) return;
    this.working = true;
    this.element.append(el("div", "agent-heading", "Work"));
  }

  /** A line of the agent's work (a tool call or result); text after it starts anew. */
  workLine(line) {
    this.startWork();
    this.work = null;
    this.element.append(line);
  }

  planning(text) {
    if (!this.plan) {
      this.element.append(el("div", "agent-heading", "Plan"));
      this.plan = this.element.appendChild(el("div", "agent-text agent-plan"));
    }
    this.plan.append(text);
  }

  execution(text) {
    this.startWork();
    if (!this.work) this.work = this.element.appendChild(el("div", "agent-text agent-work"));
    this.work.append(text);
  }

  toolCall(toolName, args) {
    const line = el("div", "agent-tool");
    line.append(el("span", "agent-tool-label", "Tool call"), " ", el("code", null, toolName),
      " ", el("code", "agent-tool-args", JSON.stringify(args ?? {})));
    this.workLine(line);
  }

  toolResult(toolName, success, result) {
    const line = el("div", success ? "agent-tool" : "agent-tool failed");
    line.append(el("span", "agent-tool-label", success ? "Tool result" : "Tool failed"), " ",
      el("code", null, toolName), " ", el("span", "agent-text", result ?? ""));
    this.workLine(line);
  }

  complete(sessionId, output) {
    this.output = output;
    this.status.textContent = "done";
    const line = el("div", "agent-done", "Done, agent session ");
    line.append(el("code", null, sessionId));
    this.element.append(line);
    this.element.open = false;
    finished.set(output, this.element);
  }

  stop(label) {
    if (this.output === null) this.status.textContent = label;
  }
}

/** The agent blocks of one streaming reply, appended to `parent` as agents start. */
export class AgentBlocks {
  constructor(parent) {
    this.parent = parent;
    this.current = null;
  }

  /** Shows one agent_* event (a name it does not know is ignored). */
  show(name, payload) {
    if (name === "agent_start") {
      this.current = new AgentBlock(payload.agent_name, payload.instruction);
      this.parent.append(this.current.element);
      return;
    }
    const block = this.current;
    if (!block) return;
    switch (name) {
      case "agent_planning":
        block.planning(payload.content ?? "");
        break;
      case "agent_execution":
        block.execution(payload.content ?? "");
        break;
      case "agent_tool_call":
        block.toolCall(payload.tool_name, payload.arguments);
        break;
      case "agent_tool_result":
        block.toolResult(payload.tool_name, payload.success, payload.result);
        break;
      case "agent_complete":
        block.complete(payload.session_id, payload.output);
        break;
      default:
        break;
    }
  }

  /**
   * The `agent` tool's result has come: true when the agent's block already
   * shows it (its output); an agent that did not finish is marked as failed.
   */
  shows(result, failed) {
    const block = this.current;
    this.current = null;
    if (!block) return false;
    if (block.output === null) block.stop("failed");
    return !failed && block.output === result;
  }

  /** The turn is over; an agent still at work was stopped with it (label). */
  end(label) {
    if (this.current) this.current.stop(label);
    this.current = null;
  }
}

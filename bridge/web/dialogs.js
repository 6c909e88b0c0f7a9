// The page's dialogs: a tool call waiting for approval, the API key the
// server asks for, and the session's system prompt.

import { api, apiKey, setApiKey } from "./api.js";

const $ = (id) => document.getElementById(id);

function close(dialog) {
  if (dialog.open) dialog.close();
}

/**
 * A tool call waiting for confirmation: shows its name and arguments until
 * Approve or Deny is pressed (answer(approved)) or dismiss() is called
 * because the turn moved on without it.
 */
export class ToolConfirmation {
  constructor() {
    this.dialog = $("confirm-dialog");
    this.pending = null;
    $("confirm-approve").addEventListener("click", () => this.answer(true));
    $("confirm-deny").addEventListener("click", () => this.answer(false));
    // Escape is a denial: the turn waits for an answer.
    this.dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      this.answer(false);
    });
  }

  ask(sessionId, confirmation) {
    this.pending = { sessionId, id: confirmation.confirmation_id };
    $("confirm-tool-name").textContent = confirmation.tool_name;
    $("confirm-tool-args").textContent = JSON.stringify(confirmation.arguments ?? {}, null, 2);
    $("confirm-error").textContent = "";
    if (!this.dialog.open) this.dialog.showModal();
  }

  async answer(approved) {
    const pending = this.pending;
    if (!pending) return close(this.dialog);
    try {
      await api.confirmTool(pending.sessionId, pending.id, approved);
      this.dismiss();
    } catch (error) {
      if (error.code === "CONFIRMATION_NOT_FOUND") this.dismiss();
      else $("confirm-error").textContent = error.message;
    }
  }

  dismiss() {
    this.pending = null;
    close(this.dialog);
  }
}

/** Asks for the API key after a 401; resolves once one is saved. */
export function askForApiKey(message) {
  const dialog = $("key-dialog");
  const input = $("key-input");
  $("key-message").textContent = message || "This server needs an API key.";
  input.value = apiKey();
  return new Promise((resolve) => {
    const form = $("key-form");
    const submit = (event) => {
      event.preventDefault();
      setApiKey(input.value.trim());
      form.removeEventListener("submit", submit);
      close(dialog);
      resolve();
    };
    form.addEventListener("submit", submit);
    if (!dialog.open) dialog.showModal();
    input.focus();
  });
}

/**
 * The session's system prompt: text, or a prompt file (the file wins), saved
 * with PUT .../system-prompt or removed with DELETE. onChanged() runs after
 * either.
 */
export class SystemPromptEditor {
  constructor(onChanged) {
    this.dialog = $("prompt-dialog");
    this.onChanged = onChanged;
    this.sessionId = null;
    $("prompt-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    $("prompt-remove").addEventListener("click", () => this.remove());
    $("prompt-close").addEventListener("click", () => close(this.dialog));
    $("prompt-file").addEventListener("change", () => this.showFileChoice());
  }

  async open(sessionId, messages) {
    this.sessionId = sessionId;
    const first = messages[0];
    const current = first && first.role === "system" ? first : null;
    $("prompt-text").value = current ? current.content : "";
    $("prompt-remove").disabled = !current;
    $("prompt-error").textContent = "";
    const select = $("prompt-file");
    select.replaceChildren(new Option("None: use the text", ""));
    try {
      const { prompts } = await api.systemPrompts();
      for (const prompt of prompts) {
        const words = `${prompt.filename} (${prompt.word_count} words)`;
        select.append(new Option(words, prompt.filename));
      }
    } catch (error) {
      $("prompt-error").textContent = error.message;
    }
    select.value = current && current.source_file ? current.source_file : "";
    this.showFileChoice();
    if (!this.dialog.open) this.dialog.showModal();
  }

  showFileChoice() {
    $("prompt-text").disabled = $("prompt-file").value !== "";
  }

  async save() {
    const file = $("prompt-file").value;
    const content = $("prompt-text").value;
    const body = file ? { source_file: file } : { content };
    try {
      await api.setSystemPrompt(this.sessionId, body);
      close(this.dialog);
      this.onChanged();
    } catch (error) {
      $("prompt-error").textContent = error.message;
    }
  }

  async remove() {
    try {
      await api.removeSystemPrompt(this.sessionId);
      close(this.dialog);
      this.onChanged();
    } catch (error) {
      $("prompt-error").textContent = error.message;
    }
  }
}

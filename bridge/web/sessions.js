// The sidebar: sessions, most recently updated first, each with its preview,
// to open or delete; and the model (and tools) a new chat starts with.

import { el } from "./dom.js";

const TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "short" });

/**
 * Renders the list. actions: { onOpen(id), onDelete(id) }.
 */
export function renderSessions(list, sessions, selectedId, actions) {
  list.replaceChildren();
  if (!sessions.length) {
    list.append(el("li", "empty", "No chats yet."));
    return;
  }
  for (const session of sessions) {
    const item = el("li", "session");
    if (session.session_id === selectedId) item.classList.add("selected");

    // A link to the session's fragment: opening it is navigating (and no
    // button's name ever holds the text of a conversation).
    const open = el("a", "session-open");
    open.href = `#${session.session_id}`;
    if (session.session_id === selectedId) open.setAttribute("aria-current", "page");
    const labelId = `session-label-${session.session_id}`;
    const preview = el("span", "session-preview", session.preview || "(no messages yet)");
    preview.id = labelId;
    const meta = el("span", "session-meta");
    const when = el("time", null, TIME.format(new Date(session.updated_at)));
    when.dateTime = session.updated_at;
    meta.append(session.model, " · ", when);
    if (session.active_turn_id) meta.append(" · ", el("span", "session-running", "replying"));
    open.append(preview, meta);
    open.addEventListener("click", (event) => {
      event.preventDefault();
      actions.onOpen(session.session_id);
    });

    const remove = el("button", "session-delete small", "Delete");
    remove.type = "button";
    remove.setAttribute("aria-describedby", labelId);
    remove.addEventListener("click", () => actions.onDelete(session.session_id));

    item.append(open, remove);
    list.append(item);
  }
}

/** Fills the model picker from GET /models, keeping the choice if it is still there. */
export function renderModels(select, models) {
  const previous = select.value;
  select.replaceChildren();
  for (const model of models) {
    const option = el("option", null, model.name);
    option.value = model.name;
    select.append(option);
  }
  if (models.some((m) => m.name === previous)) select.value = previous;
  select.disabled = !models.length;
}

/** Checkboxes for the discovered tools a new chat may offer the model. */
export function renderTools(fieldset, container, tools) {
  container.replaceChildren();
  const names = Object.keys(tools).sort();
  fieldset.hidden = !names.length;
  for (const name of names) {
    const label = el("label", "tool-choice");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = name;
    label.title = tools[name].description || "";
    label.append(box, " ", name);
    container.append(label);
  }
}

export function chosenTools(container) {
  return [...container.querySelectorAll("input:checked")].map((box) => box.value);
}

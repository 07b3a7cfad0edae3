// Materials to follow (容缺受理) in the clerk's console: in the checklist, a "to follow"
// button on a material the catalogue lets follow (POST /api/sessions/{id}/to-follow) and its
// due date; in the application, what it still waits for, and that approval waits for it
// (or, once the date has passed, that it can only be returned or rejected).

import { whileBusy } from "./busy.js";
import { language } from "./i18n.js";
import { errorBody, errorSentence } from "./server-errors.js";

const TEXT = {
  "zh-Hans": {
    button: "容缺后补",
    defaultDays: "默认期限",
    days: "{n} 个工作日",
    busy: "正在记录…",
    status: "容缺后补 · 期限 {date}",
    heading: "容缺后补材料",
    outstanding: "{name}:待补交,期限 {date}{reminded}",
    reminded: "(已提醒)",
    supplied: "{name}:已补交",
    brought: "{name}:已在受理时提交",
    lapsed: "{name}:逾期未补交({date})",
    waits: "补交前不能批准;可退回或不予许可。",
    lapsedNote: "补交期限已过:只能退回或不予许可。",
  },
  "zh-Hant": {
    button: "容缺後補",
    defaultDays: "預設期限",
    days: "{n} 個工作日",
    busy: "正在記錄…",
    status: "容缺後補 · 期限 {date}",
    heading: "容缺後補材料",
    outstanding: "{name}:待補交,期限 {date}{reminded}",
    reminded: "(已提醒)",
    supplied: "{name}:已補交",
    brought: "{name}:已在受理時提交",
    lapsed: "{name}:逾期未補交({date})",
    waits: "補交前不能批准;可退回或不予許可。",
    lapsedNote: "補交期限已過:只能退回或不予許可。",
  },
  en: {
    button: "To follow",
    defaultDays: "usual time",
    days: "{n} working days",
    busy: "Recording…",
    status: "to follow · due {date}",
    heading: "Materials to follow",
    outstanding: "{name}: to follow by {date}{reminded}",
    reminded: " (reminder sent)",
    supplied: "{name}: supplied",
    brought: "{name}: brought at the counter",
    lapsed: "{name}: not brought by {date} (lapsed)",
    waits: "It cannot be approved until supplied; it can be returned or rejected.",
    lapsedNote: "The due date has passed: it can only be returned or rejected.",
  },
};

function say(key, params = {}) {
  const table = TEXT[language()] || TEXT.en;
  return (table[key] ?? TEXT.en[key]).replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

/** The checklist's status text of a material marked to follow. */
export function followStatus(item) {
  return say("status", { date: item.due_on });
}

// the due dates a clerk may pick besides the catalogue's (the server caps them)
const DAY_CHOICES = [3, 5, 10, 15, 20];

/** The "to follow" control of a checklist row: how long, and the button (null when the
 * material may not follow or is in). */
export function followButton(doc, item, sessionId, token, done, fail) {
  if (!item.may_follow || !["missing", "rejected"].includes(item.status)) return null;
  const days = doc.createElement("select");
  days.className = "follow-days";
  days.dataset.testid = `doc-follow-days-${item.material_id}`;
  for (const value of ["", ...DAY_CHOICES]) {
    const option = doc.createElement("option");
    option.value = String(value);
    option.textContent = value === "" ? say("defaultDays") : say("days", { n: value });
    days.append(option);
  }
  const button = doc.createElement("button");
  button.type = "button";
  button.className = "btn btn-small";
  button.dataset.testid = `doc-follow-${item.material_id}`;
  button.textContent = say("button");
  button.addEventListener("click", () =>
    whileBusy(button, say("busy"), async () => {
      const response = await fetch(`/api/sessions/${sessionId}/to-follow`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify(
          days.value ? { material_id: item.material_id, days: Number(days.value) } : { material_id: item.material_id },
        ),
      });
      if (!response.ok) {
        fail(errorSentence(await errorBody(response), language()) ?? `HTTP ${response.status}`);
        return;
      }
      done(await response.json());
    }),
  );
  const control = doc.createElement("span");
  control.className = "follow-control";
  control.append(days, button);
  return control;
}

/** Lines about the application's materials to follow (empty when it has none); their test
 * ids start with ``prefix`` (the call's panel and the pending list show the same application). */
export function followLines(doc, app, prefix = "paper-follow") {
  const items = (app && app.to_follow) || [];
  if (!items.length) return [];
  const heading = doc.createElement("li");
  heading.className = "follow-heading";
  heading.textContent = say("heading");
  const lines = items.map((item) => {
    const li = doc.createElement("li");
    li.dataset.testid = `${prefix}-${item.material_id}`;
    li.dataset.state = item.state;
    const name = item.names[language()] || item.names.en;
    li.textContent = say(item.state, {
      name, date: item.due_on, reminded: item.reminded ? say("reminded") : "",
    });
    return li;
  });
  const open = ["submitted", "awaiting_second_approval"].includes(app.state);
  const note = doc.createElement("li");
  note.dataset.testid = `${prefix}-note`;
  if (open && items.some((i) => i.state === "lapsed")) note.textContent = say("lapsedNote");
  else if (open && items.some((i) => i.state === "outstanding")) note.textContent = say("waits");
  return note.textContent ? [heading, ...lines, note] : [heading, ...lines];
}

// The index of a call's work sections (guidance, identity, materials, signature and decision):
// a link to each, with a badge when that part has news for the clerk (pages to review, the
// identity result, a signature to decide on) while it may be scrolled out of view.
//
// It reads what the panels drew (their data-* attributes), so it keeps no state of its own and
// never reads layout; it writes only when a badge changes. Called after every render.

import { t } from "./i18n.js";

// Paperwork states that wait on the clerk, and those that are over.
const TO_DECIDE = new Set(["submitted", "awaiting_second_approval"]);
const DECIDED = new Set(["approved", "returned", "rejected"]);

export class WorkNav {
  constructor(doc) {
    this.doc = doc;
    const $ = (id) => doc.getElementById(id);
    this.el = {
      steps: $("guide-steps"),
      identity: $("identity-status"),
      checklist: $("doc-checklist"),
      documents: $("documents-panel"),
      paperState: $("paper-state"),
      ink: $("paper-ink"),
    };
    this.links = {};
    for (const link of doc.querySelectorAll(".work-link[data-section]")) {
      this.links[link.dataset.section] = { link, badge: link.querySelector(".work-badge"), key: null };
    }
  }

  /** Update the badges for the call in progress (``inCall``), or clear them. */
  render(inCall) {
    const badges = inCall
      ? {
          guidance: this.#guidance(),
          identity: this.#identity(),
          materials: this.#materials(),
          paperwork: this.#paperwork(),
        }
      : {};
    for (const [section, slot] of Object.entries(this.links)) {
      const badge = badges[section] || null;
      const key = badge ? `${badge.level}|${badge.text}` : "";
      if (key === slot.key) continue;
      slot.key = key;
      slot.badge.hidden = !badge;
      slot.badge.textContent = badge ? badge.text : "";
      if (badge) slot.link.dataset.level = badge.level;
      else delete slot.link.dataset.level;
    }
  }

  #guidance() {
    const items = this.el.steps.children;
    for (let i = 0; i < items.length; i += 1) {
      if (items[i].classList.contains("current")) {
        return { level: "info", text: t("nav.step", { n: i + 1, total: items.length }) };
      }
    }
    return null;
  }

  #identity() {
    const status = this.el.identity.dataset.status;
    if (status === "verified") return { level: "done", text: t("nav.verified") };
    if (status === "failed") return { level: "failed", text: t("nav.failed") };
    if (status === "overridden") return { level: "done", text: t("nav.overridden") };
    return null;
  }

  #materials() {
    if (this.el.documents.hidden) return null;
    const waiting = this.el.checklist.querySelectorAll("[data-status=received]").length;
    if (waiting) return { level: "attention", text: t("nav.toReview", { n: waiting }) };
    if (this.el.documents.dataset.complete === "true") return { level: "done", text: t("nav.complete") };
    return null;
  }

  #paperwork() {
    const state = this.el.paperState.dataset.state;
    if (TO_DECIDE.has(state)) return { level: "attention", text: t("nav.toDecide") };
    if (DECIDED.has(state)) return { level: "done", text: t("nav.decided") };
    if (state === "form_shown" && Number(this.el.ink.dataset.points) > 0) {
      return { level: "attention", text: t("nav.signing") };
    }
    return null;
  }
}

// The identity panel of the call: what the kiosk read off the applicant's document, the face
// match score against its photo, the liveness challenge, the evidence pictures, and, when the
// check failed, the clerk's override with a written reason.
//
// The panel is fetched over REST with the clerk's token (GET /api/sessions/{id}/identity)
// when a call starts and whenever the server sends an ``identity`` event; the server gives
// it only to the clerk of that call. Pictures are fetched the same way and shown as blob:
// URLs (the page's CSP allows no other image source), and dropped when the call ends.
// Everything read from the document is put in with textContent, never as HTML.

import { whileBusy } from "./busy.js";
import { afterSetup } from "./settle.js";
import { language, maybe, t } from "./i18n.js";
import { errorSentence } from "./server-errors.js";

const MIN_REASON = 10;

export class IdentityPanel {
  /** ``tokenOf()`` gives the signed-in clerk's token (or null). */
  constructor(doc, tokenOf) {
    this.doc = doc;
    this.tokenOf = tokenOf;
    this.sessionId = null;
    this.panel = null;
    this.error = null; // {status}
    this.drawn = null;
    this.pictures = []; // [{sha256, url}]
    this.generation = 0; // a fetch for an earlier call must not draw into this one
    const $ = (id) => doc.getElementById(id);
    this.el = {
      root: $("identity-panel"),
      status: $("identity-status"),
      attempts: $("identity-attempts"),
      fields: $("identity-fields"),
      score: $("identity-score"),
      liveness: $("identity-liveness"),
      failure: $("identity-failure"),
      evidence: $("identity-evidence"),
      form: $("identity-override"),
      reason: $("identity-reason"),
      formError: $("identity-override-error"),
      overridden: $("identity-overridden"),
    };
    this.el.form.addEventListener("submit", (event) => {
      event.preventDefault();
      whileBusy(this.el.form.querySelector("[type=submit]"), t("identity.overriding"), () => this.#override());
    });
  }

  /** Follow the call in progress (``info``: the console's callInfo, or null). */
  render(info) {
    const sessionId = info ? info.sessionId : null;
    if (sessionId !== this.sessionId) {
      this.sessionId = sessionId;
      this.generation += 1;
      this.panel = null;
      this.error = null;
      this.noReader = false; // until this call's kiosk says it has no reader
      this.el.reason.value = "";
      this.el.formError.hidden = true;
      this.#dropPictures();
      if (sessionId) afterSetup(() => this.sessionId === sessionId, () => this.refresh());
    }
    this.#draw();
  }

  /** The kiosk's device report, pushed when it arrives (it may come after the call opened). */
  devicesReported(report) {
    if (!report || report.session_id !== this.sessionId) return;
    this.noReader = !report.id_reader;
    this.#draw();
  }

  /** The server's ``identity`` event: the panel of ``payload.session_id`` changed. */
  changed(payload) {
    if (payload && payload.session_id === this.sessionId) this.refresh();
  }

  async refresh() {
    const generation = this.generation;
    const response = await this.#fetch(`/api/sessions/${this.sessionId}/identity`);
    if (generation !== this.generation) return;
    if (!response || !response.ok) {
      this.error = { status: response ? response.status : 0 };
    } else {
      this.error = null;
      this.panel = await response.json();
      await this.#loadPictures(generation);
    }
    // what the kiosk has: without an ID reader no check will ever come, and the clerk is told
    const devices = await this.#fetch(`/api/sessions/${this.sessionId}/kiosk-devices`);
    if (generation !== this.generation) return;
    // 204: not said yet; a report pushed meanwhile (devicesReported) is newer and is kept
    if (devices && devices.status === 200) this.noReader = !(await devices.json()).id_reader;
    this.#draw();
  }

  async #fetch(path, init = {}) {
    const token = this.tokenOf();
    if (!token) return null;
    try {
      return await fetch(path, {
        ...init,
        headers: { ...(init.headers || {}), Authorization: `Bearer ${token}` },
        cache: "no-store",
        credentials: "same-origin",
      });
    } catch {
      return null;
    }
  }

  async #loadPictures(generation) {
    const refs = (this.panel && this.panel.result && this.panel.result.evidence) || [];
    const have = new Set(this.pictures.map((p) => p.sha256));
    for (const ref of refs) {
      if (have.has(ref.sha256)) continue;
      const response = await this.#fetch(
        `/api/sessions/${this.sessionId}/identity/evidence/${ref.sha256}`,
      );
      if (generation !== this.generation) return;
      if (!response || !response.ok) continue;
      const blob = await response.blob();
      // two refreshes (the call's start, an identity event) may fetch the same picture
      if (this.pictures.some((p) => p.sha256 === ref.sha256)) continue;
      this.pictures.push({ sha256: ref.sha256, kind: ref.kind, url: URL.createObjectURL(blob) });
    }
    const wanted = new Set(refs.map((r) => r.sha256));
    for (const picture of this.pictures.filter((p) => !wanted.has(p.sha256))) {
      URL.revokeObjectURL(picture.url);
    }
    this.pictures = this.pictures.filter((p) => wanted.has(p.sha256));
    this.drawn = null;
  }

  #dropPictures() {
    for (const picture of this.pictures) URL.revokeObjectURL(picture.url);
    this.pictures = [];
    this.el.evidence.replaceChildren();
    this.drawn = null;
  }

  async #override() {
    const reason = this.el.reason.value.trim();
    if (reason.length < MIN_REASON) {
      this.#formError(t("identity.overrideShort"));
      return;
    }
    const generation = this.generation;
    const response = await this.#fetch(`/api/sessions/${this.sessionId}/identity/override`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ reason }),
    });
    if (generation !== this.generation) return;
    let body = null;
    try {
      body = response ? await response.json() : null;
    } catch {
      body = null;
    }
    if (!response || response.status !== 201) {
      const text = response ? errorSentence(body, language()) ?? t("error.unexplained") : t("error.network");
      this.#formError(text);
      return;
    }
    this.el.formError.hidden = true;
    this.el.reason.value = "";
    this.panel = body;
    this.#draw();
  }

  #formError(text) {
    this.el.formError.textContent = text;
    this.el.formError.hidden = false;
  }

  #draw() {
    this.el.root.hidden = !this.sessionId;
    if (!this.sessionId) return;
    const key = JSON.stringify([language(), this.panel, this.error, this.pictures.length, this.noReader]);
    if (key === this.drawn) return;
    this.drawn = key;
    const panel = this.panel;
    const status = panel ? panel.status : "pending";
    this.el.root.dataset.status = status;
    this.el.status.dataset.status = status;
    this.el.status.textContent = this.error
      ? t("identity.loadFailed", { status: this.error.status })
      : status === "pending" && this.noReader
        ? t("identity.noReader")
        : panel && panel.result && panel.result.eid && (status === "verified" || status === "failed")
          ? t(`identity.eid.${status}`)
          : t(`identity.${status}`);
    const result = panel && panel.result;
    this.el.attempts.hidden = !result;
    if (result) this.el.attempts.textContent = t("identity.attempts", { n: panel.attempts });
    if (result && result.eid) this.#drawEid(result.eid);
    else this.#drawFields(result ? result.document : null);
    this.#drawScore(result);
    this.#drawLiveness(result);
    this.el.failure.hidden = !(result && result.failure_code);
    if (result && result.failure_code) {
      const code = maybe(`identity.code.${result.failure_code}`) || t("identity.code.other");
      this.el.failure.textContent = t("identity.failure", { code });
    }
    this.#drawPictures();
    this.el.form.hidden = status !== "failed";
    const override = panel && panel.override;
    this.el.overridden.hidden = !override;
    if (override) {
      this.el.overridden.textContent = t("identity.overrideBy", {
        clerk: override.clerk,
        reason: override.reason,
      });
    }
  }

  #drawFields(doc) {
    delete this.el.fields.dataset.source;
    delete this.el.fields.dataset.assurance;
    const rows = [];
    if (doc) {
      const name = [doc.surname, doc.given_names].filter(Boolean).join(", ");
      rows.push(["identity.field.name", name]);
      rows.push(["identity.field.document", `${doc.document_type} · ${doc.issuing_state} · ${doc.format}`]);
      rows.push(["identity.field.number", doc.document_number]);
      rows.push(["identity.field.nationality", doc.nationality]);
      rows.push(["identity.field.birth", doc.birth_date]);
      rows.push(["identity.field.sex", doc.sex]);
      rows.push(["identity.field.expiry", doc.expiry_date]);
      rows.push(["identity.field.source", t(`identity.source.${doc.source}`)]);
    }
    this.el.fields.replaceChildren(
      ...rows.map(([label, value]) => {
        const row = this.doc.createElement("div");
        row.className = "fact";
        const dt = this.doc.createElement("dt");
        dt.textContent = t(label);
        const dd = this.doc.createElement("dd");
        dd.textContent = value;
        dd.dataset.field = label.split(".").pop();
        row.append(dt, dd);
        return row;
      }),
    );
  }

  /** An e-ID sign-in (signaling/eid): who the provider says signed in, and how strongly. */
  #drawEid(eid) {
    const provider = { "zh-Hant": eid.provider_name_zh_hant, "zh-Hans": eid.provider_name_zh_hans }[language()]
      || eid.provider_name_en;
    const how = [eid.acr, ...(eid.amr || [])].filter(Boolean).join(" · ");
    const rows = [
      ["identity.field.provider", provider],
      ["identity.field.name", eid.name],
      ["identity.field.name_latin", eid.name_latin],
      ["identity.field.number", eid.document_number],
      ["identity.field.document_type", eid.document_type],
      ["identity.field.birth", eid.birth_date],
      ["identity.field.how", how],
      ["identity.field.subject", eid.subject],
    ].filter(([, value]) => value);
    this.el.fields.dataset.source = "eid";
    this.el.fields.dataset.assurance = eid.assurance;
    this.el.fields.replaceChildren(...rows.map(([label, value]) => this.#fact(label, value)));
  }

  #fact(label, value) {
    const row = this.doc.createElement("div");
    row.className = "fact";
    const dt = this.doc.createElement("dt");
    dt.textContent = t(label);
    const dd = this.doc.createElement("dd");
    dd.textContent = value;
    dd.dataset.field = label.split(".").pop();
    row.append(dt, dd);
    return row;
  }

  #drawScore(result) {
    const match = result && result.match;
    this.el.score.hidden = !result;
    if (!result) return;
    if (result.eid) {
      this.el.score.dataset.matched = String(result.eid.assurance === "strong");
      this.el.score.textContent = t(`identity.eid.${result.eid.assurance}`);
      return;
    }
    if (!match || match.score === null) {
      this.el.score.textContent = t("identity.score.none");
      this.el.score.dataset.matched = "false";
      return;
    }
    this.el.score.dataset.matched = String(match.matched);
    this.el.score.textContent = t("identity.score", {
      score: match.score.toFixed(2),
      threshold: match.threshold.toFixed(2),
      verdict: t(match.matched ? "identity.match" : "identity.mismatch"),
    });
  }

  #drawLiveness(result) {
    const live = result && result.liveness;
    this.el.liveness.hidden = !result;
    if (!result) return;
    if (result.eid) {
      this.el.liveness.textContent = t("identity.eid.no_face");
      return;
    }
    if (!live) {
      this.el.liveness.textContent = t("identity.liveness.none");
      return;
    }
    const actions = live.completed.map((a) => t(`identity.action.${a}`)).join(", ");
    this.el.liveness.textContent = live.passed
      ? t("identity.liveness.passed", { actions })
      : t("identity.liveness.failed", {
          reason: maybe(`identity.reason.${live.reason}`) || live.reason || "",
        });
  }

  #drawPictures() {
    this.el.evidence.replaceChildren(
      ...this.pictures.map((picture) => {
        const figure = this.doc.createElement("figure");
        figure.className = "identity-picture";
        const img = this.doc.createElement("img");
        img.src = picture.url;
        img.alt = t(`identity.evidence.${picture.kind}`);
        img.dataset.sha256 = picture.sha256;
        const caption = this.doc.createElement("figcaption");
        caption.textContent = t(`identity.evidence.${picture.kind}`);
        figure.append(img, caption);
        return figure;
      }),
    );
  }
}

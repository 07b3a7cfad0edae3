// The applicant's materials during a call: the live document camera beside their face, the
// pages as they arrive (thumbnail strip, a viewer with zoom, rotation and paging), and the
// service's checklist where the clerk accepts, rejects or asks for a re-scan.
//
// Pages come over HTTP with the clerk's token (never the socket): the socket only says a page
// is there (document_added) and what the checklist now is (checklist). Images are fetched into
// blob: URLs, which the console's CSP allows, so no token ever sits in an <img src>.

import { afterSetup } from "./settle.js";
import { whileBusy } from "./busy.js";
import { language, t } from "./i18n.js";
import { errorBody, errorSentence } from "./server-errors.js";
import { ZH_HANT_DOCUMENTS } from "./i18n-zh-hant.js";
import { followButton, followStatus } from "./to-follow.js";

export const TEXT = {
  "zh-Hans": {
    heading: "申请材料",
    camera: "文件摄像头",
    noCamera: "终端未发送文件摄像头画面",
    material: "材料",
    captureCamera: "拍摄",
    captureScanner: "扫描",
    captureSent: "已请终端采集:{name}",
    reason: "原因(驳回或重新扫描时必填)",
    accept: "通过",
    reject: "驳回",
    rescan: "重新扫描",
    reasonNeeded: "请先填写原因,申请人会看到它。",
    "status.missing": "未提交",
    "status.received": "待审核",
    "status.accepted": "已通过",
    "status.rejected": "已驳回",
    "status.rescan": "需重新扫描",
    required: "必需",
    optional: "视情况",
    noPages: "尚未收到材料。",
    page: "第 {n} / {total} 页",
    prev: "上一页",
    next: "下一页",
    zoomIn: "放大",
    zoomOut: "缩小",
    rotate: "旋转",
    openPdf: "打开 PDF",
    pdfPages: "PDF · {pages} 页",
    superseded: "已作废",
    complete: "所有必需材料均已通过。",
    failed: "操作失败:{message}",
    "busy": "处理中…",
    "lacks.document_camera": "这台自助终端没有文件摄像头,无法拍摄;请让申请人用扫描器、U 盘或手机提交。",
    "lacks.scanner": "这台自助终端没有扫描器,无法扫描;请改用拍摄,或让申请人用 U 盘或手机提交。",
    "lacks.both": "这台自助终端没有文件摄像头,也没有扫描器;请让申请人用 U 盘或手机提交。",
  },
  "zh-Hant": ZH_HANT_DOCUMENTS,
  en: {
    heading: "Materials",
    camera: "Document camera",
    noCamera: "The kiosk sends no document camera",
    material: "Material",
    captureCamera: "Capture",
    captureScanner: "Scan",
    captureSent: "Asked the kiosk to capture: {name}",
    reason: "Reason (needed to reject or ask for a re-scan)",
    accept: "Accept",
    reject: "Reject",
    rescan: "Re-scan",
    reasonNeeded: "Type a reason first; the applicant sees it.",
    "status.missing": "missing",
    "status.received": "to review",
    "status.accepted": "accepted",
    "status.rejected": "rejected",
    "status.rescan": "re-scan asked",
    required: "required",
    optional: "if applicable",
    noPages: "No pages yet.",
    page: "Page {n} of {total}",
    prev: "Previous",
    next: "Next",
    zoomIn: "Zoom in",
    zoomOut: "Zoom out",
    rotate: "Rotate",
    openPdf: "Open PDF",
    pdfPages: "PDF · {pages} pages",
    superseded: "superseded",
    complete: "Every required material is accepted.",
    failed: "That did not work: {message}",
    "busy": "Working…",
    "lacks.document_camera": "This kiosk has no document camera, so it cannot capture; ask the applicant to use the scanner, a USB stick or their phone.",
    "lacks.scanner": "This kiosk has no scanner, so it cannot scan; capture with the camera instead, or ask the applicant to use a USB stick or their phone.",
    "lacks.both": "This kiosk has neither a document camera nor a scanner; ask the applicant to use a USB stick or their phone.",
  },
};

function say(key, params = {}) {
  const table = TEXT[language()] || TEXT.en;
  const text = table[key] ?? TEXT.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

const ZOOMS = [0.5, 0.75, 1, 1.5, 2, 3];

export class DocumentsPanel {
  /** ``token()`` is the clerk's bearer token. */
  constructor(doc, token) {
    this.doc = doc;
    this.token = token;
    this.sessionId = null;
    this.language = null;
    this.documents = []; // DocumentInfo, in chain order
    this.checklist = null;
    this.urls = new Map(); // sha256 -> blob: URL of an image
    this.current = -1; // index into this.documents shown in the viewer
    this.zoom = 2; // index into ZOOMS
    this.rotation = 0;
    this.message = "";
    this.shownAt = new Map(); // sha256 -> Date.now() when its page was first painted
    const $ = (id) => doc.getElementById(id);
    this.el = {
      panel: $("documents-panel"),
      heading: $("documents-heading"),
      video: $("document-video"),
      videoFigure: $("document-video-figure"),
      videoCaption: $("document-video-caption"),
      material: $("doc-material"),
      materialLabel: $("doc-material-label"),
      captureCamera: $("doc-capture-camera"),
      captureScanner: $("doc-capture-scanner"),
      devices: $("doc-devices"),
      reason: $("doc-reason"),
      reasonLabel: $("doc-reason-label"),
      checklist: $("doc-checklist"),
      complete: $("doc-complete"),
      message: $("doc-message"),
      stage: $("doc-stage"),
      image: $("doc-image"),
      pdf: $("doc-pdf"),
      empty: $("doc-empty"),
      pageLabel: $("doc-page"),
      prev: $("doc-prev"),
      next: $("doc-next"),
      zoomIn: $("doc-zoom-in"),
      zoomOut: $("doc-zoom-out"),
      rotate: $("doc-rotate"),
      thumbs: $("doc-thumbs"),
    };
    this.el.prev.addEventListener("click", () => this.show(this.current - 1));
    this.el.next.addEventListener("click", () => this.show(this.current + 1));
    this.el.zoomIn.addEventListener("click", () => this.#zoomBy(1));
    this.el.zoomOut.addEventListener("click", () => this.#zoomBy(-1));
    this.el.rotate.addEventListener("click", () => {
      this.rotation = (this.rotation + 90) % 360;
      this.#applyTransform();
    });
    this.el.captureCamera.addEventListener("click", () =>
      whileBusy(this.el.captureCamera, say("busy"), () => this.#capture("camera")),
    );
    this.el.captureScanner.addEventListener("click", () =>
      whileBusy(this.el.captureScanner, say("busy"), () => this.#capture("scanner")),
    );
    this.el.pdf.addEventListener("click", () => this.#openPdf());
  }

  /** The live document-camera track from the call (call.js hands it over). */
  setTrack(track) {
    // The track comes when the answer is built, which may be while the call still rings:
    // kept, so the call's start (which resets the panel) shows it again.
    this.liveTrack = track;
    const stream = new MediaStream([track]);
    this.el.video.srcObject = stream;
    this.el.video.muted = true;
    const played = this.el.video.play();
    if (played && played.catch) played.catch(() => undefined);
    this.el.panel.dataset.camera = "live";
    this.el.videoFigure.hidden = false;
    this.el.videoFigure.parentElement.classList.add("with-document");
  }

  /** Follow the call in progress (``info`` from main.js, or null between calls). */
  render(info) {
    const id = info ? info.sessionId : null;
    if (id !== this.sessionId) this.#switchTo(id, info);
    else if (this.drawnIn !== language()) this.#renderChecklist(); // switched mid-call
    this.drawnIn = language();
    this.#renderStatic();
  }

  /** A server push: ``document_added`` or ``checklist``. */
  /** The kiosk's device report, pushed when it arrives (it may come after the call opened). */
  devicesReported(report) {
    if (!this.sessionId || report.session_id !== this.sessionId) return;
    const { document_camera, scanner, id_reader } = report;
    this.devices = { document_camera, scanner, id_reader };
    this.#renderAll();
  }

  handle(name, payload) {
    if (!this.sessionId || payload.session_id !== this.sessionId) return;
    if (name === "document_added") this.#added(payload.document);
    if (name === "checklist") this.#setChecklist(payload);
  }

  /** A new checklist: pages no longer current for their material are marked superseded. */
  #setChecklist(checklist) {
    this.checklist = checklist;
    const current = new Map(checklist.items.map((i) => [i.material_id, new Set(i.documents)]));
    for (const info of this.documents) {
      const kept = current.get(info.material_id);
      info.superseded = !(kept && kept.has(info.sha256));
    }
    this.#renderChecklist();
    this.#renderThumbs();
  }

  /** Show document ``index`` in the viewer. */
  show(index) {
    if (index < 0 || index >= this.documents.length) return;
    if (index !== this.current) {
      this.current = index;
      this.rotation = 0;
    }
    this.#renderViewer();
    this.#renderThumbs();
  }

  // ------------------------------------------------------------------ internals

  #switchTo(id, info) {
    for (const url of this.urls.values()) URL.revokeObjectURL(url);
    this.urls.clear();
    Object.assign(this, { sessionId: id, documents: [], checklist: null, current: -1, rotation: 0, message: "", devices: null });
    this.language = info ? info.language : null;
    this.el.video.srcObject = null;
    delete this.el.panel.dataset.camera;
    this.el.videoFigure.hidden = true;
    this.el.videoFigure.parentElement.classList.remove("with-document");
    this.el.reason.value = "";
    const track = this.liveTrack;
    this.liveTrack = null;
    if (id && track && track.readyState === "live") this.setTrack(track);
    this.#renderAll();
    if (id) afterSetup(() => this.sessionId === id, () => this.#load(id));
  }

  /** What the kiosk has (null: it did not say); a capture it cannot do is not offered. */
  async #loadDevices(id) {
    try {
      const response = await fetch(`/api/sessions/${id}/kiosk-devices`, {
        headers: { Authorization: `Bearer ${this.token()}` },
        cache: "no-store",
      });
      if (id !== this.sessionId) return;
      // 204: not said yet. A report pushed meanwhile (devicesReported) is newer: kept.
      if (response.status === 200) this.devices = await response.json();
    } catch {
      // not known: the console offers every capture, as for a kiosk that never says
    }
    this.#renderAll();
  }

  async #load(id) {
    this.#loadDevices(id);
    const list = await this.#api("GET", `/documents`);
    if (!list || id !== this.sessionId) return;
    for (const info of list.documents) {
      if (!this.documents.some((d) => d.seq === info.seq)) this.documents.push(info);
    }
    this.documents.sort((a, b) => a.seq - b.seq);
    this.#setChecklist(this.checklist || list.checklist);
    await Promise.all(this.documents.map((d) => this.#fetchImage(d)));
    if (this.current < 0 && this.documents.length) this.current = this.documents.length - 1;
    this.#renderAll();
  }

  async #added(info) {
    if (this.documents.some((d) => d.seq === info.seq)) return;
    const session = this.sessionId;
    this.documents.push(info);
    this.documents.sort((a, b) => a.seq - b.seq);
    await this.#fetchImage(info);
    if (session !== this.sessionId) return;
    // the newest page is what the clerk wants to see: it goes on the stage
    this.current = this.documents.findIndex((d) => d.seq === info.seq);
    this.rotation = 0;
    this.#renderAll();
  }

  /** Remember when the new page is on screen: decoded, then the next frame painted. */
  #notePainted(sha256) {
    const image = this.el.image;
    if (image.dataset.sha256 !== sha256 || this.shownAt.has(sha256)) return;
    image
      .decode()
      .then(() => requestAnimationFrame(() => {
        this.shownAt.set(sha256, Date.now());
        performance.mark(`vcounter:document-shown:${sha256}`);
      }))
      .catch(() => undefined);
  }

  async #fetchImage(info) {
    if (!info.content_type.startsWith("image/") || this.urls.has(info.sha256)) return;
    const session = this.sessionId;
    const response = await this.#fetch(`/documents/${info.sha256}`);
    if (!response || session !== this.sessionId) return;
    const blob = await response.blob();
    this.urls.set(info.sha256, URL.createObjectURL(blob));
  }

  async #fetch(path, init = {}) {
    try {
      const response = await fetch(`/api/sessions/${this.sessionId}${path}`, {
        ...init,
        headers: { Authorization: `Bearer ${this.token()}`, ...(init.headers || {}) },
        cache: "no-store",
      });
      if (!response.ok) {
        const message = errorSentence(await errorBody(response), language());
        this.#say("failed", { message: message ?? t("error.http", { status: response.status }) });
        return null;
      }
      return response;
    } catch (err) {
      this.#say("failed", { message: t("error.network") }); // the browser's words are English
      return null;
    }
  }

  async #api(method, path, body) {
    const init = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { "Content-Type": "application/json" };
    }
    const response = await this.#fetch(path, init);
    return response ? response.json() : null;
  }

  async #review(materialId, decision) {
    const reason = this.el.reason.value.trim();
    if (decision !== "accepted" && !reason) {
      this.#say("reasonNeeded");
      this.el.reason.focus();
      return;
    }
    const checklist = await this.#api("POST", `/materials/${materialId}/review`, { decision, reason });
    if (!checklist) return;
    this.#setChecklist(checklist);
    this.el.reason.value = "";
    this.message = "";
    this.#renderAll();
  }

  async #capture(device) {
    const materialId = this.el.material.value;
    if (!materialId) return;
    const needs = device === "camera" ? "document_camera" : "scanner";
    if (this.devices && !this.devices[needs]) {
      this.#say(`lacks.${needs}`); // nothing would ever come back: do not ask
      return;
    }
    const sent = await this.#api("POST", "/capture", { material_id: materialId, device });
    if (sent) this.#say("captureSent", { name: this.#name(materialId) });
  }

  async #openPdf() {
    const info = this.documents[this.current];
    if (!info) return;
    const response = await this.#fetch(`/documents/${info.sha256}`);
    if (!response) return;
    const url = URL.createObjectURL(await response.blob());
    window.open(url, "_blank", "noopener");
  }

  #zoomBy(step) {
    this.zoom = Math.max(0, Math.min(ZOOMS.length - 1, this.zoom + step));
    this.#applyTransform();
  }

  #applyTransform() {
    // CSSOM, not a style attribute: the CSP forbids inline styles but not this
    this.el.image.style.transform = `rotate(${this.rotation}deg) scale(${ZOOMS[this.zoom]})`;
    this.el.image.dataset.rotation = String(this.rotation);
    this.el.image.dataset.zoom = String(ZOOMS[this.zoom]);
  }

  #say(key, params) {
    this.message = say(key, params);
    this.el.message.textContent = this.message;
  }

  #name(materialId) {
    const item = this.checklist && this.checklist.items.find((i) => i.material_id === materialId);
    if (!item) return materialId;
    return item.names[language()] || item.names.en;
  }

  #renderAll() {
    this.#renderStatic();
    this.#renderChecklist();
    this.#renderViewer();
    this.#renderThumbs();
  }

  #renderStatic() {
    const el = this.el;
    el.panel.hidden = !this.sessionId;
    el.heading.textContent = say("heading");
    el.videoCaption.textContent = el.panel.dataset.camera ? say("camera") : say("noCamera");
    el.materialLabel.textContent = say("material");
    const lacks = this.devices
      ? [["document_camera", el.captureCamera, "captureCamera"], ["scanner", el.captureScanner, "captureScanner"]]
        .filter(([device]) => !this.devices[device])
      : [];
    for (const [device, button, key] of [["document_camera", el.captureCamera, "captureCamera"], ["scanner", el.captureScanner, "captureScanner"]]) {
      const missing = lacks.some(([d]) => d === device);
      if (button.getAttribute("aria-busy") !== "true") button.textContent = say(key);
      button.disabled = missing;
    }
    el.devices.hidden = lacks.length === 0;
    el.devices.textContent = lacks.length === 2 ? say("lacks.both") : lacks.map(([device]) => say(`lacks.${device}`)).join(" ");
    el.reasonLabel.textContent = say("reason");
    el.prev.textContent = say("prev");
    el.next.textContent = say("next");
    el.zoomIn.textContent = say("zoomIn");
    el.zoomOut.textContent = say("zoomOut");
    el.rotate.textContent = say("rotate");
    el.pdf.textContent = say("openPdf");
    el.message.textContent = this.message;
  }

  #renderChecklist() {
    const items = (this.checklist && this.checklist.items) || [];
    const chosen = this.el.material.value;
    const options = items.map((item) => {
      const option = this.doc.createElement("option");
      option.value = item.material_id;
      option.textContent = this.#name(item.material_id);
      return option;
    });
    this.el.material.replaceChildren(...options);
    const firstOpen = items.find((i) => i.status !== "accepted");
    this.el.material.value = items.some((i) => i.material_id === chosen) ? chosen : (firstOpen || items[0] || {}).material_id || "";
    const rows = items.map((item) => this.#checklistRow(item));
    this.el.checklist.replaceChildren(...rows);
    this.el.complete.hidden = !(this.checklist && this.checklist.complete);
    this.el.complete.textContent = say("complete");
    this.el.panel.dataset.complete = String(Boolean(this.checklist && this.checklist.complete));
  }

  #checklistRow(item) {
    const li = this.doc.createElement("li");
    li.className = "doc-item";
    li.dataset.testid = `doc-item-${item.material_id}`;
    li.dataset.status = item.status;
    const name = this.doc.createElement("span");
    name.className = "doc-item-name";
    name.textContent = `${this.#name(item.material_id)} · ${say(item.required ? "required" : "optional")}`;
    const pill = this.doc.createElement("span");
    pill.className = `doc-status doc-status-${item.status}`;
    pill.dataset.testid = `doc-status-${item.material_id}`;
    pill.textContent = item.status === "to_follow"
      ? followStatus(item)
      : say(`status.${item.status}`) + (item.reason ? ` — ${item.reason}` : "");
    const actions = this.doc.createElement("span");
    actions.className = "doc-item-actions";
    for (const decision of ["accepted", "rejected", "rescan"]) {
      const button = this.doc.createElement("button");
      button.type = "button";
      button.className = "btn btn-small";
      button.dataset.testid = `doc-${decision}-${item.material_id}`;
      button.textContent = say({ accepted: "accept", rejected: "reject", rescan: "rescan" }[decision]);
      button.disabled = decision === "accepted" ? !item.documents.length : item.status === "missing";
      button.addEventListener("click", () =>
        whileBusy(button, say("busy"), () => this.#review(item.material_id, decision)),
      );
      actions.append(button);
    }
    // once recorded, the server pushes the new checklist to both screens, which redraws this
    const follow = followButton(this.doc, item, this.sessionId, this.token(),
      () => {}, (message) => this.#say("failed", { message }));
    if (follow) actions.append(follow);
    const pages = this.doc.createElement("button");
    pages.type = "button";
    pages.className = "btn btn-quiet btn-small";
    pages.textContent = String(item.documents.length);
    pages.disabled = !item.documents.length;
    pages.addEventListener("click", () => {
      const index = this.documents.findIndex((d) => d.sha256 === item.documents[0] && !d.superseded);
      this.show(index >= 0 ? index : this.documents.findIndex((d) => d.sha256 === item.documents[0]));
    });
    li.append(name, pill, pages, actions);
    return li;
  }

  #renderViewer() {
    const info = this.documents[this.current];
    const el = this.el;
    el.empty.hidden = Boolean(info);
    el.empty.textContent = say("noPages");
    el.prev.disabled = this.current <= 0;
    el.next.disabled = this.current < 0 || this.current >= this.documents.length - 1;
    el.pageLabel.textContent = info ? say("page", { n: this.current + 1, total: this.documents.length }) : "";
    const url = info ? this.urls.get(info.sha256) : null;
    el.image.hidden = !url;
    el.pdf.hidden = !(info && info.content_type === "application/pdf");
    if (url) {
      if (el.image.src !== url) el.image.src = url;
      el.image.alt = `${this.#name(info.material_id)} (${this.current + 1})`;
      el.image.dataset.sha256 = info.sha256;
      // A page may reach the stage by the push or by the call's first load, whichever
      // comes first: either way its first paint is noted here.
      this.#notePainted(info.sha256);
    } else {
      el.image.removeAttribute("src");
      delete el.image.dataset.sha256;
    }
    if (info && info.content_type === "application/pdf") el.pdf.textContent = `${say("openPdf")} · ${say("pdfPages", { pages: info.pages })}`;
    this.#applyTransform();
  }

  #renderThumbs() {
    const thumbs = this.documents.map((info, index) => {
      const li = this.doc.createElement("li");
      const button = this.doc.createElement("button");
      button.type = "button";
      button.className = "doc-thumb";
      button.dataset.testid = `doc-thumb-${index}`;
      button.dataset.sha256 = info.sha256;
      if (info.superseded) button.classList.add("doc-thumb-superseded");
      if (index === this.current) button.setAttribute("aria-current", "true");
      const url = this.urls.get(info.sha256);
      if (url) {
        const img = this.doc.createElement("img");
        img.src = url;
        img.alt = "";
        button.append(img);
      } else {
        button.textContent = say("pdfPages", { pages: info.pages });
      }
      const caption = this.doc.createElement("span");
      caption.textContent = `${index + 1} · ${this.#name(info.material_id)}${info.superseded ? ` (${say("superseded")})` : ""}`;
      button.append(caption);
      button.addEventListener("click", () => this.show(index));
      li.append(button);
      return li;
    });
    this.el.thumbs.replaceChildren(...thumbs);
  }
}

// The supervisor's end of a live call (signaling/monitor.py): the clerk's console offers a peer
// connection with the applicant's camera, microphone and document camera and the clerk's own
// camera and microphone; this page answers, shows and plays them, and sends back its own
// microphone only while whispering or barging (the track goes onto the answered sender, so a
// change of mode needs no new negotiation).

import { io } from "/vendor/socket.io/socket.io.esm.min.js";
import { icePolicy, rtcConfig } from "./call.js";

const ROLES = ["applicant", "clerk", "documents"];

export class MonitorView {
  /** ``token()`` gives the supervisor's current token; ``text(key, params)`` the page's words. */
  constructor(doc, token, text) {
    this.doc = doc;
    this.token = token;
    this.text = text;
    this.socket = null;
    this.pc = null;
    this.monitorId = null;
    this.sessionId = null;
    this.mode = null;
    this.roles = new Map(); // mid -> who
    this.streams = {};
    this.voiceSender = null;
    this.mic = null;
    this.heldCandidates = [];
    this.clicked = null; // performance.now() of the press that opened the monitor (bench.monitor)
    this.times = {}; // ms from the press to each step of the set-up (bench.monitor prints them)
    const el = (id) => doc.getElementById(id);
    this.el = {
      panel: el("monitor-panel"),
      title: el("monitor-title"),
      status: el("monitor-status"),
      videos: Object.fromEntries(ROLES.map((r) => [r, el(`monitor-${r}`)])),
      buttons: Object.fromEntries(["monitor", "whisper", "barge", "leave"].map((m) => [m, el(`monitor-${m}-btn`)])),
    };
    for (const mode of ["monitor", "whisper", "barge"]) {
      this.el.buttons[mode].addEventListener("click", () => this.setMode(mode));
    }
    this.el.buttons.leave.addEventListener("click", () => this.leave());
  }

  /** Connect ahead of the first press (the live view is open): a monitor then starts at once. */
  prepare() {
    if (this.token()) this.#connect();
  }

  /** Signed out: leave any call and close the connection. */
  disconnect() {
    this.leave();
    if (this.socket) this.socket.disconnect();
    this.socket = null;
  }

  /** Start watching ``sessionId`` (a call in progress). */
  open(sessionId, label) {
    if (this.sessionId) this.leave();
    this.clicked = performance.now();
    this.times = {};
    this.sessionId = sessionId;
    this.label = label;
    this.mode = "monitor";
    this.el.panel.hidden = false;
    this.#status("monitor.connecting");
    this.#connect();
    this.socket.emit("monitor_start", { session_id: sessionId, mode: "monitor" });
    this.#render();
  }

  /** Switch between listening, whispering to the clerk and joining the call. */
  async setMode(mode) {
    if (!this.monitorId || mode === this.mode) return;
    if (mode !== "monitor") {
      try {
        await this.#microphone();
      } catch (err) {
        this.#status("monitor.noMicrophone");
        return;
      }
    }
    if (this.voiceSender) await this.voiceSender.replaceTrack(mode === "monitor" ? null : this.mic);
    this.socket.emit("monitor_change", { monitor_id: this.monitorId, mode });
  }

  /** Leave the call; the clerk and the applicant are told. */
  leave(reason = null) {
    if (this.socket && this.monitorId) this.socket.emit("monitor_change", { monitor_id: this.monitorId, mode: null });
    this.#close();
    if (reason) {
      this.el.panel.hidden = false;
      this.#status(reason);
    } else {
      this.el.panel.hidden = true;
    }
  }

  /** The live overview's sessions: a monitored call that is no longer in progress is left. */
  seen(sessions) {
    if (!this.sessionId) return;
    const live = sessions.some((s) => s.id === this.sessionId && s.state === "in_call");
    if (!live) this.leave("monitor.callEnded");
  }

  #connect() {
    if (this.socket) return;
    this.socket = io("/supervisor", {
      auth: (cb) => cb({ token: this.token() }),
      transports: ["websocket"],
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
    this.socket.on("monitor_state", (state) => this.#onState(state));
    this.socket.on("monitor_signal", (signal) =>
      this.#onSignal(signal).catch((err) => {
        // a description the browser refuses leaves no media: say so rather than wait forever
        console.error("monitor signal refused", err);
        if (this.pc) this.#status("monitor.failed");
      }),
    );
    this.socket.on("error", (error) => {
      this.#close();
      this.el.panel.hidden = false;
      this.el.status.textContent = error && error.message ? error.message : this.text("monitor.failed");
    });
    this.socket.on("connect_error", (err) => {
      if (!this.socket.active) this.el.status.textContent = (err && err.message) || this.text("monitor.failed");
    });
    this.socket.on("disconnect", () => {
      // the server ends every monitor of a socket that goes: start again once back
      if (this.sessionId === null) return;
      this.#close();
      this.#status("monitor.lost");
    });
  }

  #onState(state) {
    if (state.session_id !== this.sessionId) return;
    if (state.ended) {
      this.#close();
      this.#status(state.ended === "left" ? "monitor.left" : "monitor.callEnded");
      return;
    }
    if (!this.pc) {
      this.#note("state");
      this.monitorId = state.monitor_id;
      icePolicy.value = state.ice_policy; // the page makes no other peer connection
      this.iceServers = state.ice_servers;
      this.#newPeer();
    }
    this.mode = state.mode;
    this.#status(this.pc.connectionState === "connected" ? `monitor.mode.${this.mode}` : "monitor.connecting");
    this.#render();
  }

  /** A peer connection for the console's offer (a new one when the console came back). */
  #newPeer() {
    if (this.pc) this.pc.close();
    this.heldCandidates = [];
    this.voiceSender = null;
    this.streams = {}; // the old connection's tracks have ended
    const pc = (this.pc = new RTCPeerConnection(rtcConfig(this.iceServers)));
    pc.ontrack = (event) => this.#onTrack(event);
    pc.onicecandidate = (event) => {
      const c = event.candidate;
      if (!c || !c.candidate || pc !== this.pc) return;
      this.socket.emit("monitor_signal", {
        monitor_id: this.monitorId,
        candidate: {
          session_id: this.sessionId,
          candidate: c.candidate,
          sdp_mid: c.sdpMid ?? null,
          sdp_mline_index: c.sdpMLineIndex ?? null,
        },
      });
    };
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      if (pc.connectionState === "failed") this.#status("monitor.failed");
      if (pc.connectionState === "connected") {
        this.#note("connected");
        this.#status(`monitor.mode.${this.mode}`);
      }
    };
  }

  async #onSignal(signal) {
    if (signal.monitor_id !== this.monitorId || !this.pc) return;
    if (signal.description && signal.description.type === "offer" && this.pc.remoteDescription) {
      // the clerk's console reloaded: its new page offers again, to a new connection here
      this.#newPeer();
      this.#status("monitor.connecting");
    }
    const pc = this.pc;
    if (signal.description && signal.description.type === "offer") {
      this.#note("offer");
      this.roles = new Map(signal.tracks.map((t) => [t.mid, t.role]));
      await pc.setRemoteDescription({ type: "offer", sdp: signal.description.sdp });
      // the one m-line the console receives on: our voice, silent until whisper or barge
      const voice = pc.getTransceivers().find((t) => !this.roles.has(t.mid));
      if (voice) {
        voice.direction = "sendonly";
        this.voiceSender = voice.sender;
        if (this.mode !== "monitor" && this.mic) await voice.sender.replaceTrack(this.mic);
      }
      await pc.setLocalDescription(await pc.createAnswer());
      this.socket.emit("monitor_signal", {
        monitor_id: this.monitorId,
        description: { session_id: this.sessionId, type: "answer", sdp: pc.localDescription.sdp },
      });
      this.#note("answered");
      for (const held of this.heldCandidates.splice(0)) await this.#addCandidate(held);
    }
    if (signal.candidate) {
      if (pc.remoteDescription) await this.#addCandidate(signal.candidate);
      else this.heldCandidates.push(signal.candidate);
    }
  }

  #onTrack(event) {
    const who = this.roles.get(event.transceiver.mid);
    const video = this.el.videos[who];
    if (!video) return;
    if (!this.streams[who]) this.streams[who] = new MediaStream();
    this.streams[who].addTrack(event.track);
    if (video.srcObject !== this.streams[who]) video.srcObject = this.streams[who];
    const played = video.play();
    if (played && typeof played.catch === "function") played.catch(() => undefined);
  }

  #note(step) {
    if (this.clicked !== null && !(step in this.times)) this.times[step] = performance.now() - this.clicked;
  }

  async #microphone() {
    if (this.mic && this.mic.readyState === "live") return this.mic;
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    this.mic = stream.getAudioTracks()[0];
    return this.mic;
  }

  async #addCandidate(c) {
    await this.pc
      .addIceCandidate({ candidate: c.candidate, sdpMid: c.sdp_mid, sdpMLineIndex: c.sdp_mline_index })
      .catch(() => undefined);
  }

  #close() {
    if (this.pc) this.pc.close();
    this.pc = null;
    this.monitorId = null;
    this.voiceSender = null;
    if (this.mic) this.mic.stop();
    this.mic = null;
    for (const video of Object.values(this.el.videos)) video.srcObject = null;
    this.streams = {};
    this.roles = new Map();
    this.heldCandidates = [];
    this.sessionId = null;
    this.mode = null;
    this.#render();
  }

  #status(key) {
    this.statusKey = key;
    this.el.status.textContent = this.text(key);
  }

  /** Again in the page's language (after a switch). */
  translate() {
    if (this.statusKey) this.el.status.textContent = this.text(this.statusKey);
    this.#render();
  }

  #render() {
    this.el.title.textContent = this.label ? this.text("monitor.title", { session: this.label }) : "";
    for (const [mode, button] of Object.entries(this.el.buttons)) {
      if (mode === "leave") button.disabled = !this.monitorId;
      else {
        button.disabled = !this.monitorId;
        button.setAttribute("aria-pressed", String(this.mode === mode));
      }
    }
  }
}

// A supervisor in the call (signaling/monitor.py). The console already has the call's media:
// it offers the supervisor a second peer connection carrying the applicant's camera,
// microphone and document camera as received, and the clerk's own camera and microphone, with
// one audio track back for the supervisor's voice. The kiosk sends nothing more.
//
// - monitor: the supervisor sees and hears; their voice is not played;
// - whisper: their voice is played here only (the applicant does not hear it);
// - barge: their voice is also mixed into the microphone the call sends the kiosk, so the
//   applicant hears (and the kiosk's recording keeps) both voices.
//
// Every half second each link follows the call: a peer connection the call replaced (media
// recovery) gets its tracks onto the monitor's senders again, and a barge its mix.

import { rtcConfig } from "./call.js";
import { t } from "./i18n.js";
import { EVENTS } from "./protocol.js";

const FOLLOW_MS = 500;
// the monitor's m-lines, in the order of the offer
const SENT = Object.freeze([
  { role: "applicant", kind: "video" },
  { role: "applicant", kind: "audio" },
  { role: "clerk", kind: "video" },
  { role: "clerk", kind: "audio" },
  { role: "documents", kind: "video" },
]);
const WEIGHT = { monitor: 1, whisper: 2, barge: 3 };
// A supervisor's tiles need no more: each forwarded picture is encoded once more on the
// clerk's PC (three pictures on top of the call's own), so they go at half the call's rate.
const MONITOR_FPS = 15;

/** What the call's peer connection carries, by who: the tracks the monitor forwards. */
function callTracks(pc) {
  const out = { applicant: {}, clerk: {}, documents: {} };
  pc.getTransceivers().forEach((transceiver, index) => {
    if (transceiver.stopped) return;
    const received = transceiver.receiver.track;
    // a kiosk with a document camera offers it as a second video after its camera (call.js)
    if (received.kind === "video" && index >= 2) out.documents.video = received;
    else out.applicant[received.kind] = received;
    const sent = transceiver.sender.track;
    if (sent) out.clerk[sent.kind] = sent;
  });
  return out;
}

class Link {
  constructor(message, owner) {
    this.id = message.monitor_id;
    this.sessionId = message.session_id;
    this.who = message.supervisor;
    this.mode = message.mode;
    this.owner = owner;
    this.closed = false;
    this.remoteSet = false;
    this.heldCandidates = [];
    this.voice = null; // the supervisor's microphone, as received
    this.mic = null; // the clerk's own microphone, while a barge's mix replaces it on the call
    this.mixer = null;
    const pc = (this.pc = new RTCPeerConnection(rtcConfig(message.ice_servers)));
    this.senders = SENT.map(
      ({ kind }) =>
        pc.addTransceiver(kind, {
          direction: "sendonly",
          sendEncodings: kind === "video" ? [{ maxFramerate: MONITOR_FPS }] : undefined,
        }).sender,
    );
    this.voiceTransceiver = pc.addTransceiver("audio", { direction: "recvonly" });
    pc.ontrack = (event) => {
      if (event.transceiver !== this.voiceTransceiver) return;
      this.voice = event.track;
      this.owner.render();
    };
    pc.onicecandidate = (event) => {
      const c = event.candidate;
      if (!c || !c.candidate) return; // the supervisor's browser needs no end-of-candidates
      this.#send({
        candidate: {
          session_id: this.sessionId,
          candidate: c.candidate,
          sdp_mid: c.sdpMid ?? null,
          sdp_mline_index: c.sdpMLineIndex ?? null,
        },
      });
    };
    this.timer = window.setInterval(() => this.follow(), FOLLOW_MS);
  }

  async offer() {
    this.follow();
    await this.pc.setLocalDescription(await this.pc.createOffer());
    if (this.closed) return;
    const tracks = SENT.map(({ role }, i) => ({ mid: this.pc.getTransceivers()[i].mid, role }));
    this.#send({
      description: { session_id: this.sessionId, type: "offer", sdp: this.pc.localDescription.sdp },
      tracks,
    });
  }

  async signal(message) {
    if (this.closed) return;
    if (message.description && message.description.type === "answer") {
      await this.pc.setRemoteDescription({ type: "answer", sdp: message.description.sdp });
      this.remoteSet = true;
      for (const held of this.heldCandidates.splice(0)) await this.#addCandidate(held);
    }
    if (message.candidate) {
      if (this.remoteSet) await this.#addCandidate(message.candidate);
      else this.heldCandidates.push(message.candidate);
    }
  }

  setMode(mode) {
    this.mode = mode;
    this.follow();
  }

  /** Keep the monitor's tracks and a barge's mix on the call's current peer connection. */
  follow() {
    const call = this.owner.currentCall();
    if (this.closed || !call || !call.pc || call.sessionId !== this.sessionId) return;
    const tracks = callTracks(call.pc);
    const audioSender = call.pc.getSenders().find((s) => s.track && s.track.kind === "audio");
    // while mixed, the call sends the mix: the clerk's microphone is the one kept aside
    if (this.mixer && tracks.clerk.audio === this.mixer.track) tracks.clerk.audio = this.mic;
    SENT.forEach(({ role, kind }, i) => {
      const wanted = tracks[role][kind] || null;
      if (this.senders[i].track !== wanted) this.senders[i].replaceTrack(wanted).catch(() => undefined);
    });
    if (this.mode === "barge") this.#mixInto(audioSender, tracks.clerk.audio);
    else this.#unmix(audioSender);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    window.clearInterval(this.timer);
    const call = this.owner.currentCall();
    if (call && call.pc) this.#unmix(call.pc.getSenders().find((s) => s.track && s.track.kind === "audio"));
    else this.#stopMixer();
    this.pc.close();
  }

  #mixInto(audioSender, mic) {
    if (!audioSender || !mic || !this.voice) return;
    if (!this.mixer) {
      const ctx = new AudioContext();
      const out = ctx.createMediaStreamDestination();
      const sources = [mic, this.voice].map((track) => {
        const node = ctx.createMediaStreamSource(new MediaStream([track]));
        node.connect(out);
        return node;
      });
      ctx.resume().catch(() => undefined);
      this.mixer = { ctx, sources, track: out.stream.getAudioTracks()[0] };
      this.mic = mic;
    }
    if (audioSender.track !== this.mixer.track) audioSender.replaceTrack(this.mixer.track).catch(() => undefined);
  }

  #unmix(audioSender) {
    if (!this.mixer) return;
    if (audioSender && audioSender.track === this.mixer.track && this.mic) {
      audioSender.replaceTrack(this.mic).catch(() => undefined);
    }
    this.#stopMixer();
  }

  #stopMixer() {
    if (!this.mixer) return;
    for (const node of this.mixer.sources) node.disconnect();
    this.mixer.track.stop();
    this.mixer.ctx.close().catch(() => undefined);
    this.mixer = null;
    this.mic = null;
  }

  async #addCandidate(candidate) {
    await this.pc
      .addIceCandidate({
        candidate: candidate.candidate,
        sdpMid: candidate.sdp_mid,
        sdpMLineIndex: candidate.sdp_mline_index,
      })
      .catch(() => undefined); // a candidate of a network this browser cannot reach
  }

  #send(fields) {
    this.owner.send(EVENTS.MONITOR_SIGNAL, { monitor_id: this.id, ...fields });
  }
}

/** The supervisors in the console's call: their peer connections, voices and the banner. */
export class Supervision {
  constructor(doc, send, currentCall) {
    this.banner = doc.getElementById("supervision-banner");
    this.audio = doc.getElementById("supervisor-audio");
    this.send = send;
    this.currentCall = currentCall;
    this.links = new Map();
  }

  /** The server's word that a supervisor started, changed or left. */
  onSupervision(message) {
    const link = this.links.get(message.monitor_id);
    if (message.mode === null) {
      if (link) link.close();
      this.links.delete(message.monitor_id);
    } else if (link) {
      link.who = message.supervisor;
      link.setMode(message.mode);
    } else {
      const call = this.currentCall();
      if (!call || call.closed || call.sessionId !== message.session_id) return;
      const fresh = new Link(message, this);
      this.links.set(message.monitor_id, fresh);
      fresh.offer().catch(() => undefined);
    }
    this.render();
  }

  onSignal(message) {
    const link = this.links.get(message.monitor_id);
    if (link) link.signal(message).catch(() => undefined);
  }

  /** The call ended here: every monitor of it goes (the supervisor's page sees it close). */
  closeAll() {
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.render();
  }

  /** Who is whispering or in the call (the strongest presence first), and their voice. */
  render() {
    const links = [...this.links.values()].sort((a, b) => WEIGHT[b.mode] - WEIGHT[a.mode]);
    const top = links[0] || null;
    this.banner.hidden = !top;
    this.banner.dataset.mode = top ? top.mode : "";
    this.banner.textContent = top ? t(`supervision.${top.mode}`, { name: top.who.name }) : "";
    const speaking = links.find((l) => l.voice && l.mode !== "monitor") || null;
    const stream = speaking ? new MediaStream([speaking.voice]) : null;
    if (!speaking) {
      this.audio.srcObject = null;
    } else if (!this.audio.srcObject || this.audio.srcObject.getAudioTracks()[0] !== speaking.voice) {
      this.audio.srcObject = stream;
      const played = this.audio.play();
      if (played && typeof played.catch === "function") played.catch(() => undefined);
    }
  }
}

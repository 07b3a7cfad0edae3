// A soft two-tone chime while a call rings, made with Web Audio (no sound files to load).
// Browsers only allow sound after the page was used, so the audio context is created on the
// clerk's first click or key press (signing in is one).

const PERIOD_MS = 3000;

export class Ringer {
  constructor() {
    this.context = null;
    this.timer = null;
    const unlock = () => {
      this.#ensureContext();
      window.removeEventListener("pointerdown", unlock, true);
      window.removeEventListener("keydown", unlock, true);
    };
    window.addEventListener("pointerdown", unlock, true);
    window.addEventListener("keydown", unlock, true);
  }

  get ringing() {
    return this.timer !== null;
  }

  start() {
    if (this.timer !== null) return;
    this.#chime();
    this.timer = window.setInterval(() => this.#chime(), PERIOD_MS);
  }

  stop() {
    if (this.timer === null) return;
    window.clearInterval(this.timer);
    this.timer = null;
  }

  #ensureContext() {
    if (this.context || typeof window.AudioContext !== "function") return this.context;
    try {
      this.context = new window.AudioContext();
    } catch {
      this.context = null; // no audio output: the visual alert still works
    }
    return this.context;
  }

  #chime() {
    const ctx = this.context;
    if (!ctx || ctx.state === "closed") return;
    if (ctx.state === "suspended") ctx.resume().catch(() => undefined);
    const start = ctx.currentTime + 0.02;
    [659.25, 523.25].forEach((frequency, i) => {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      const at = start + i * 0.35;
      osc.type = "sine";
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.2, at + 0.03);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.6);
      osc.connect(gain).connect(ctx.destination);
      osc.start(at);
      osc.stop(at + 0.65);
    });
  }
}

// Plays the clerk's audio from the kiosk process: 48 kHz mono s16 chunks (each after the
// bridge's 12-byte header) into a ring buffer, out at the AudioContext's pace.
//
// A small jitter buffer: playback starts (and restarts after running dry) once `targetMs`
// of audio is queued; if more than `maxMs` piles up (a stall, or clock drift between the
// terminal and the sound card), the oldest audio is skipped back down to `targetMs`, so the
// applicant never hears the clerk later than that.

const HEADER_BYTES = 12;

class PcmPlayer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { targetMs = 60, maxMs = 200 } = options.processorOptions || {};
    this.target = Math.round((sampleRate * targetMs) / 1000);
    this.max = Math.max(this.target * 2, Math.round((sampleRate * maxMs) / 1000));
    this.capacity = this.max + sampleRate; // room for a burst before it is trimmed
    this.ring = new Float32Array(this.capacity);
    this.written = 0; // samples ever written / read: their difference is what is queued
    this.read = 0;
    this.playing = false;
    this.underruns = 0;
    this.dropped = 0;
    this.quanta = 0;
    this.reportEvery = Math.round(sampleRate / 128 / 2); // render quanta: about 0.5 s
    this.port.onmessage = (event) => this.push(event.data);
  }

  push(buffer) {
    const pcm = new Int16Array(buffer, HEADER_BYTES);
    const n = Math.min(pcm.length, this.capacity - (this.written - this.read));
    for (let i = 0; i < n; i += 1) this.ring[(this.written + i) % this.capacity] = pcm[i] / 32768;
    this.written += n;
    const queued = this.written - this.read;
    if (queued > this.max) {
      const skip = queued - this.target;
      this.read += skip;
      this.dropped += skip;
    }
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    const queued = this.written - this.read;
    if (!this.playing && queued >= this.target) this.playing = true;
    let n = 0;
    if (this.playing) {
      n = Math.min(out.length, queued);
      for (let i = 0; i < n; i += 1) out[i] = this.ring[(this.read + i) % this.capacity];
      this.read += n;
      if (n < out.length) {
        this.underruns += 1; // ran dry: wait for targetMs again instead of stuttering
        this.playing = false;
      }
    }
    out.fill(0, n);
    this.quanta += 1;
    if (this.quanta % this.reportEvery === 0) {
      this.port.postMessage({
        bufferedMs: ((this.written - this.read) * 1000) / sampleRate,
        underruns: this.underruns,
        droppedMs: (this.dropped * 1000) / sampleRate,
      });
    }
    return true;
  }
}

registerProcessor('pcm-player', PcmPlayer);

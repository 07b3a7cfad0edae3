// The media bridge's page side: the clerk's video and audio that the kiosk process decoded,
// received over loopback websockets (/media/video, /media/self, /media/audio) and shown.
//
// Every message starts with a 12-byte header: float64 wall-clock seconds at which the
// terminal decoded the frame, uint32 sequence number (little-endian); then a JPEG (video)
// or 48 kHz mono s16 PCM (audio). Video is latest-wins: a frame that arrives while another
// decodes replaces the waiting one, so the picture never falls behind the call.
//
// window.kioskMediaStats() tells what the bridge adds: per frame shown, "addedMs" is when it
// reached the screen minus when the terminal decoded it (same machine, same clock).

const HEADER_BYTES = 12;
const KEEP = 600; // latency samples kept per stream: 20 s at 30 fps
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 2000;

const wallNow = () => performance.timeOrigin + performance.now();

function socketUrl(url) {
  const target = new URL(url, location.href);
  target.protocol = target.protocol === 'https:' ? 'wss:' : 'ws:';
  return target.href;
}

// A websocket that comes back after a drop (the kiosk process restarted, a call ended).
function reconnecting(url, onMessage, stats) {
  let ws = null;
  let stopped = false;
  let retry = RETRY_MIN_MS;
  let timer = 0;
  const connect = () => {
    ws = new WebSocket(socketUrl(url));
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => { retry = RETRY_MIN_MS; };
    ws.onmessage = (event) => onMessage(event.data);
    ws.onclose = () => {
      ws = null;
      if (stopped) return;
      stats.reconnects += 1;
      timer = setTimeout(connect, retry);
      retry = Math.min(retry * 2, RETRY_MAX_MS);
    };
  };
  connect();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      if (ws) ws.close();
    },
  };
}

class VideoStats {
  constructor(keep = KEEP) {
    this.keep = keep;
    this.reset();
  }

  reset() {
    this.since = wallNow();
    this.frames = 0; // shown on screen
    this.received = 0; // messages from the kiosk process
    this.dropped = 0; // received but replaced by a newer one before it was shown
    this.errors = 0; // frames that did not decode
    this.reconnects = 0;
    this.addedMs = []; // terminal decode -> on screen
    this.arrivalMs = []; // terminal decode -> message at the page
    this.recent = []; // when the last second's frames were shown
  }

  shown(frame, at) {
    this.frames += 1;
    push(this.addedMs, at - frame.decodedAt, this.keep);
    push(this.arrivalMs, frame.arrivedAt - frame.decodedAt, this.keep);
    this.recent.push(at);
    while (this.recent.length && this.recent[0] < at - 1000) this.recent.shift();
  }

  snapshot() {
    const now = wallNow();
    const elapsedMs = now - this.since;
    const live = this.recent.filter((t) => t >= now - 1000).length;
    return {
      frames: this.frames,
      fps: live, // shown in the last second
      meanFps: elapsedMs > 0 ? (this.frames * 1000) / elapsedMs : 0,
      elapsedMs,
      received: this.received,
      dropped: this.dropped,
      errors: this.errors,
      reconnects: this.reconnects,
      addedMs: [...this.addedMs],
      arrivalMs: [...this.arrivalMs],
    };
  }
}

function push(list, value, keep) {
  list.push(Math.round(value * 10) / 10);
  if (list.length > keep) list.splice(0, list.length - keep);
}

const videoStats = new Map(); // stream name -> VideoStats
const audioStats = { chunks: 0, reconnects: 0, underruns: 0, droppedMs: 0, bufferedMs: 0, state: 'off' };

function statsFor(name) {
  if (!videoStats.has(name)) videoStats.set(name, new VideoStats());
  return videoStats.get(name);
}

/**
 * Draw the JPEG frames of the websocket `url` on `canvas`, newest only, until stop().
 * `name` files its figures in kioskMediaStats() ('video' at the top, others by name).
 */
export function showVideo(canvas, url, { name = 'video' } = {}) {
  const stats = statsFor(name);
  const context = canvas.getContext('2d');
  let stopped = false;
  let waiting = null; // the newest message not decoded yet
  let decoding = false;
  let drawn = null; // drawn on the canvas since the last animation frame
  let committing = null; // drawn before the last animation frame: on screen at the next one
  let animation = 0;

  // The canvas is drawn as soon as a frame is decoded. Its pixels reach the screen with
  // the next compositor frame, so a frame counts as shown at the start of the animation
  // frame after the one that committed it: an upper bound on "pixel on the screen".
  const onAnimationFrame = () => {
    animation = 0;
    const now = wallNow();
    if (committing) stats.shown(committing, now);
    committing = drawn;
    drawn = null;
    if (committing) animation = requestAnimationFrame(onAnimationFrame);
  };

  const draw = (bitmap, frame) => {
    if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
    }
    context.drawImage(bitmap, 0, 0);
    bitmap.close();
    if (drawn) stats.dropped += 1; // painted over before it reached the screen
    drawn = frame;
    if (!animation) animation = requestAnimationFrame(onAnimationFrame);
  };

  const decodeNext = async () => {
    if (decoding || !waiting || stopped) return;
    const { data, arrivedAt } = waiting;
    waiting = null;
    decoding = true;
    const header = new DataView(data, 0, HEADER_BYTES);
    const frame = { decodedAt: header.getFloat64(0, true) * 1000, arrivedAt };
    let bitmap = null;
    try {
      // decoded off the main thread; a Blob view of the payload avoids copying it
      bitmap = await createImageBitmap(new Blob([new Uint8Array(data, HEADER_BYTES)], { type: 'image/jpeg' }));
    } catch (error) {
      stats.errors += 1; // one broken frame: the next one is 33 ms away
    }
    decoding = false;
    if (bitmap && !stopped) draw(bitmap, frame);
    else if (bitmap) bitmap.close();
    decodeNext();
  };

  const socket = reconnecting(url, (data) => {
    stats.received += 1;
    if (waiting) stats.dropped += 1;
    waiting = { data, arrivedAt: wallNow() };
    decodeNext();
  }, stats);

  return {
    stop() {
      stopped = true;
      socket.stop();
      if (animation) cancelAnimationFrame(animation);
      // the next call must not open on the last picture of this one
      context.clearRect(0, 0, canvas.width, canvas.height);
    },
  };
}

/**
 * Play the PCM of the websocket `url` through an AudioWorklet with a small jitter buffer
 * (`targetMs`); until stop(). Starts on the first touch if the browser wants a gesture.
 */
export function playAudio(url, { targetMs = 60, maxMs = 200 } = {}) {
  let stopped = false;
  let audio = null;
  let socket = null;
  const resume = () => {
    if (audio && audio.state === 'suspended') audio.resume();
  };
  const gestures = ['pointerdown', 'touchstart', 'keydown'];

  const start = async () => {
    audio = new AudioContext({ sampleRate: 48000, latencyHint: 'interactive' });
    audio.onstatechange = () => { audioStats.state = audio.state; };
    audioStats.state = audio.state;
    await audio.audioWorklet.addModule(new URL('./pcm-worklet.js', import.meta.url));
    if (stopped) return;
    const node = new AudioWorkletNode(audio, 'pcm-player', {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: { targetMs, maxMs },
    });
    node.port.onmessage = (event) => Object.assign(audioStats, event.data);
    node.connect(audio.destination);
    // Autoplay policy: without --autoplay-policy=no-user-gesture-required the context
    // starts suspended; the applicant's first touch starts the sound.
    for (const type of gestures) window.addEventListener(type, resume, { capture: true, passive: true });
    resume();
    socket = reconnecting(url, (data) => {
      audioStats.chunks += 1;
      node.port.postMessage(data, [data]); // the worklet reads the header and PCM itself
    }, audioStats);
  };

  start().catch((error) => {
    // a call that ends while the module loads closes the context, which aborts the load:
    // nothing failed then
    if (!stopped) console.error(`kiosk: the clerk's audio cannot play: ${error.message}`);
  });

  return {
    stop() {
      stopped = true;
      if (socket) socket.stop();
      for (const type of gestures) window.removeEventListener(type, resume, { capture: true });
      if (audio) audio.close();
      audioStats.state = 'off';
    },
  };
}

/**
 * The in-call media: the clerk's video on `canvas`, the kiosk's own camera on `selfCanvas`
 * (if given) and the clerk's audio (unless `audio` is false). Returns { stop() }.
 */
export function startClerkMedia(canvas, { selfCanvas = null, audio = true } = {}) {
  const parts = [showVideo(canvas, '/media/video', { name: 'video' })];
  if (selfCanvas) parts.push(showVideo(selfCanvas, '/media/self', { name: 'self' }));
  if (audio) parts.push(playAudio('/media/audio'));
  return {
    stop() {
      for (const part of parts) part.stop();
    },
  };
}

/** What the bridge adds, for tests, the benchmark and a look from DevTools. */
export function kioskMediaStats() {
  const result = statsFor('video').snapshot();
  for (const [name, stats] of videoStats) if (name !== 'video') result[name] = stats.snapshot();
  result.audio = { ...audioStats };
  return result;
}

kioskMediaStats.reset = () => {
  for (const stats of videoStats.values()) stats.reset();
  Object.assign(audioStats, { chunks: 0, reconnects: 0 });
};

window.kioskMediaStats = kioskMediaStats;

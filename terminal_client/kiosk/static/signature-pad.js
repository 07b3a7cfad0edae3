// The signature pad: pointer (touch, pen, mouse) strokes on a canvas, kept as evidence.
// Each sample is {x, y, t, p}: canvas pixels, milliseconds since the first touch, pen
// pressure 0-1 (0.5 where the device reports none). A finished stroke is reported with
// ``onStroke`` so the clerk sees the signature as it is drawn.

const MAX_POINTS = 5000;

export class SignaturePad {
  constructor(canvas, onStroke) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.onStroke = onStroke;
    this.strokes = [];
    this.current = null;
    this.t0 = null;
    this.key = null; // the form the strokes belong to; a new form clears the pad
    canvas.style.touchAction = 'none';
    canvas.addEventListener('pointerdown', (event) => this.#down(event));
    canvas.addEventListener('pointermove', (event) => this.#move(event));
    canvas.addEventListener('pointerup', () => this.#up());
    canvas.addEventListener('pointercancel', () => this.#up());
    canvas.addEventListener('pointerleave', () => this.#up());
  }

  /** Start over when the form to sign changes. */
  reset(key) {
    if (key === this.key) return;
    this.key = key;
    this.clear();
  }

  clear() {
    this.strokes = [];
    this.current = null;
    this.t0 = null;
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
  }

  /** Everything drawn, as the kiosk's signature commands carry it. */
  ink() {
    return { width: this.canvas.width, height: this.canvas.height, strokes: this.strokes.map((points) => ({ points })) };
  }

  #sample(event) {
    const box = this.canvas.getBoundingClientRect();
    const clamp = (v, max) => Math.min(Math.max(v, 0), max);
    const now = performance.now();
    if (this.t0 === null) this.t0 = now;
    const pressure = event.pressure > 0 && event.pointerType === 'pen' ? event.pressure : 0.5;
    return {
      x: clamp(((event.clientX - box.left) / box.width) * this.canvas.width, this.canvas.width),
      y: clamp(((event.clientY - box.top) / box.height) * this.canvas.height, this.canvas.height),
      t: Math.round(now - this.t0),
      p: pressure,
    };
  }

  #down(event) {
    event.preventDefault();
    this.canvas.setPointerCapture?.(event.pointerId);
    this.current = [this.#sample(event)];
    this.strokes.push(this.current);
  }

  #move(event) {
    if (!this.current || this.current.length >= MAX_POINTS) return;
    const point = this.#sample(event);
    const last = this.current[this.current.length - 1];
    this.current.push(point);
    this.ctx.strokeStyle = '#0d1a73';
    this.ctx.lineCap = 'round';
    this.ctx.lineWidth = 1.5 + 3 * point.p;
    this.ctx.beginPath();
    this.ctx.moveTo(last.x, last.y);
    this.ctx.lineTo(point.x, point.y);
    this.ctx.stroke();
  }

  #up() {
    if (!this.current) return;
    this.current = null;
    this.onStroke(this.ink());
  }
}

// The supervisor's places tab: every kiosk and staffed window of the service map with its
// live status (GET /api/places/staff), and one place's details. Places are changed with
// `vcounter place ...` (recorded in the staff chain); the public page is /map.

const $ = (id) => document.getElementById(id);
const POLL_MS = 5000;

export class PlacesPanel {
  /**
   * @param {object} page what the panel needs of the supervisor page: api(path, options),
   *   st(key, params), localized(names), serviceName(id), failed(err)
   */
  constructor(page) {
    this.page = page;
    this.places = null; // GET /api/places/staff
    this.cities = new Map(); // city id -> names, from the map's outlines
    this.chosen = null; // place id
    this.timer = null;
  }

  bind() {
    $("places-body").addEventListener("click", (e) => {
      const row = e.target.closest("tr[data-place]");
      if (row) this.#choose(row.dataset.place);
    });
  }

  /** Load now and every few seconds while the tab is shown (stop() ends it). */
  async start() {
    this.stop();
    if (this.cities.size === 0) {
      try {
        const outlines = await fetch("/api/map/cities").then((r) => r.json());
        for (const f of outlines.features) this.cities.set(f.properties.id, f.properties);
      } catch (err) {
        this.page.failed(err);
      }
    }
    await this.load();
    this.timer = setInterval(() => this.load(), POLL_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  async load() {
    try {
      this.places = await this.page.api("/api/places/staff");
    } catch (err) {
      this.stop();
      this.page.failed(err);
      return;
    }
    this.render();
  }

  #choose(id) {
    this.chosen = id;
    this.render();
  }

  #status(p) {
    const st = this.page.st;
    if (p.kind === "window") return "—";
    return st(`places.status.${p.status}`);
  }

  #printer(p) {
    return p.printer ? this.page.st(`places.printer.${p.printer}`) : "—";
  }

  #city(id) {
    const city = this.cities.get(id);
    return city ? this.page.localized(city) : id;
  }

  render() {
    if (!this.places) return;
    const st = this.page.st;
    const body = $("places-body");
    body.replaceChildren();
    for (const p of this.places) {
      const row = document.createElement("tr");
      row.dataset.place = p.id;
      row.dataset.status = p.status ?? "window";
      row.className = p.id === this.chosen ? "sup-selected" : "";
      const seen = p.last_seen_at ? new Date(p.last_seen_at).toLocaleString() : "—";
      for (const text of [
        this.page.localized(p.names), st(`places.kind.${p.kind}`), this.#city(p.city),
        this.#status(p), this.#printer(p), p.terminal ?? "—", seen,
      ]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      body.append(row);
    }
    $("places-none").hidden = this.places.length > 0;
    this.#details();
  }

  #details() {
    const box = $("places-details");
    const p = this.places.find((x) => x.id === this.chosen);
    box.hidden = !p;
    box.replaceChildren();
    if (!p) return;
    const st = this.page.st;
    const heading = document.createElement("h3");
    heading.textContent = `${this.page.localized(p.names)} (${p.id})`;
    box.append(heading);
    const rows = [
      ["places.status", this.#status(p)],
      ["places.printer", this.#printer(p)],
      ["places.address", this.page.localized(p.addresses)],
      ["places.coordinates", `${p.latitude}, ${p.longitude}`],
      ["places.hours", p.hours],
      ["places.directions", p.directions.map((d) => st(`places.direction.${d}`)).join(" · ")],
      ["places.services", p.services.map((s) => this.page.serviceName(s)).join(" · ")],
    ];
    if (p.phone) rows.push(["places.phone", p.phone]);
    if (p.printer_reported_at) rows.push(["places.printerReported", new Date(p.printer_reported_at).toLocaleString()]);
    const list = document.createElement("dl");
    for (const [key, value] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = st(key);
      const dd = document.createElement("dd");
      dd.dataset.field = key.split(".")[1];
      dd.textContent = value;
      list.append(dt, dd);
    }
    box.append(list);
  }
}

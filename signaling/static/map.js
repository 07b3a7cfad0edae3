// The public service map: places on an SVG map of the Bay Area drawn from the shipped
// GeoJSON (no tiles from anywhere), a list, filters, "nearest to me" and live status.
"use strict";
(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const UNITS = 100; // SVG units per degree of latitude
  // a ping every 5 s, a pong 1.5 s overdue, the 0.5 s look and cache, and this: offline in 8.5 s
  const POLL_MS = 1000;
  const CHINA_OFFSET_MIN = 8 * 60; // opening hours are local time (UTC+8, no summer time)
  const LANGS = ["zh-Hant", "zh-Hans", "en"];
  const state = {
    lang: "zh-Hant", places: [], cities: null, names: {}, service: "", city: "",
    selected: null, here: null, extent: null,
  };
  const $ = (id) => document.getElementById(id);
  const list = (items) => items.join(state.lang === "en" ? ", " : "、");
  const text = (key) => window.MAP_TEXT[state.lang][key] ?? window.MAP_TEXT.en[key] ?? key;

  function pickLanguage() {
    const saved = localStorage.getItem("vcounter.map.lang");
    if (LANGS.includes(saved)) return saved;
    const asked = (navigator.language || "").toLowerCase();
    if (asked.startsWith("en")) return "en";
    if (asked === "zh-cn" || asked === "zh-sg" || asked.startsWith("zh-hans")) return "zh-Hans";
    return "zh-Hant";
  }

  // Equirectangular, shrunk east-west by the cosine of the middle latitude: at the Bay
  // Area's size this keeps shapes true to within a percent.
  function project(lon, lat) {
    const [west, south, east, north] = state.extent;
    const k = Math.cos(((south + north) / 2) * Math.PI / 180);
    return [(lon - west) * k * UNITS, (north - lat) * UNITS];
  }

  function el(tag, attrs = {}, content = "") {
    const node = tag.startsWith("svg:")
      ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (content) node.textContent = content;
    return node;
  }

  function drawCities() {
    const [west, south, east, north] = state.extent;
    const [w] = project(east, south);
    const h = (north - south) * UNITS;
    $("map").setAttribute("viewBox", `0 0 ${w.toFixed(2)} ${h.toFixed(2)}`);
    const group = $("cities");
    group.replaceChildren();
    for (const feature of state.cities.features) {
      let d = "";
      let biggest = [];
      for (const polygon of feature.geometry.coordinates) {
        for (const ring of polygon) {
          if (ring.length > biggest.length) biggest = ring;
          d += ring.map(([x, y], i) => `${i ? "L" : "M"}${project(x, y).map((v) => v.toFixed(2)).join(",")}`).join("") + "Z";
        }
      }
      const path = el("svg:path", {
        d, "data-city": feature.properties.id, "fill-rule": "evenodd", class: "city",
      });
      path.addEventListener("click", () => { $("city-filter").value = feature.properties.id; filterChanged(); });
      group.append(path);
      feature.labelAt = biggest.reduce((a, [x, y]) => [a[0] + x / biggest.length, a[1] + y / biggest.length], [0, 0]);
    }
    drawLabels();
  }

  function drawLabels() {
    const group = $("labels");
    group.replaceChildren();
    for (const feature of state.cities.features) {
      const [x, y] = project(...feature.labelAt);
      group.append(el("svg:text", { x: x.toFixed(2), y: y.toFixed(2), class: "city-label" }, feature.properties[state.lang]));
    }
  }

  function distanceKm(lat1, lon1, lat2, lon2) {
    const r = Math.PI / 180;
    const a = Math.sin((lat2 - lat1) * r / 2) ** 2
      + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin((lon2 - lon1) * r / 2) ** 2;
    return 6371.0088 * 2 * Math.asin(Math.sqrt(a));
  }

  function distanceText(km) {
    return km < 1 ? `${Math.round(km * 1000)} ${text("m")}` : `${km.toFixed(km < 10 ? 1 : 0)} ${text("km")}`;
  }

  function shown() {
    let list = state.places.filter((p) =>
      (!state.service || p.services.includes(state.service)) && (!state.city || p.city === state.city));
    if (state.here) {
      for (const p of list) p.km = distanceKm(state.here.lat, state.here.lon, p.latitude, p.longitude);
      list = list.slice().sort((a, b) => a.km - b.km);
    }
    return list;
  }

  function statusOf(p) {
    return p.kind === "window" ? "window" : p.status;
  }

  function statusText(p) {
    if (p.kind === "window") return openNow(p.hours) ? text("openNow") : text("closedNow");
    let s = text(p.status);
    if (p.printer && p.printer !== "ok" && p.status !== "offline") s += ` · ${text(`printer_${p.printer}`)}`;
    return s;
  }

  function drawPlaces() {
    const list = shown();
    const dots = $("dots");
    dots.replaceChildren();
    const items = $("places");
    items.replaceChildren();
    for (const p of list) {
      const [x, y] = project(p.longitude, p.latitude);
      const dot = el("svg:circle", {
        cx: x.toFixed(2), cy: y.toFixed(2), r: p.id === state.selected ? 4 : 2.6,
        class: `dot ${statusOf(p)}${p.printer && p.printer !== "ok" ? " printer-problem" : ""}`,
        "data-place": p.id, "data-status": statusOf(p), "data-testid": "dot", tabindex: "0",
        role: "button", "aria-label": p.names[state.lang],
      });
      dot.append(el("svg:title", {}, `${p.names[state.lang]} · ${statusText(p)}`));
      dot.addEventListener("click", () => select(p.id));
      dot.addEventListener("keydown", (e) => { if (e.key === "Enter") select(p.id); });
      dots.append(dot);
      const item = el("li", { "data-place": p.id, "data-status": statusOf(p), tabindex: "0" });
      if (p.id === state.selected) item.classList.add("selected");
      item.append(el("span", { class: `dot ${statusOf(p)}` }));
      item.append(el("strong", {}, p.names[state.lang]));
      const city = state.cities.features.find((f) => f.properties.id === p.city);
      item.append(el("span", { class: "meta" }, `${city ? city.properties[state.lang] : p.city} · ${statusText(p)}`));
      if (p.km !== undefined && state.here) item.append(el("span", { class: "distance", "data-testid": "distance" }, distanceText(p.km)));
      item.addEventListener("click", () => select(p.id));
      item.addEventListener("keydown", (e) => { if (e.key === "Enter") select(p.id); });
      items.append(item);
    }
    $("count").textContent = list.length ? text("count").replace("{n}", list.length) : text("none");
    drawDetails();
  }

  function hoursText(hours) {
    const days = text("days");
    return hours.split(";").map((rule) => {
      const [span, times] = rule.trim().split(" ");
      const named = span.split(",").map((part) => part.split("-")
        .map((d) => text("dayPrefix") + days[DAY_IDS.indexOf(d)]).join("–"));
      return `${list(named)} ${list(times.split(","))}`;
    }).join(state.lang === "en" ? "; " : "；");
  }

  const DAY_IDS = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"];

  function openNow(hours, when = new Date()) {
    const local = new Date(when.getTime() + CHINA_OFFSET_MIN * 60000);
    const day = (local.getUTCDay() + 6) % 7;
    const minute = local.getUTCHours() * 60 + local.getUTCMinutes();
    return hours.split(";").some((rule) => {
      const [span, times] = rule.trim().split(" ");
      const inDays = span.split(",").some((part) => {
        const [a, b] = part.split("-").map((d) => DAY_IDS.indexOf(d));
        return day >= a && day <= (b ?? a);
      });
      return inDays && times.split(",").some((t) => {
        const [open, close] = t.split("-").map((hm) => Number(hm.slice(0, 2)) * 60 + Number(hm.slice(3)));
        return minute >= open && minute < close;
      });
    });
  }

  function drawDetails() {
    const box = $("details");
    const p = state.places.find((x) => x.id === state.selected);
    if (!p) { box.hidden = true; box.replaceChildren(); return; }
    box.hidden = false;
    box.replaceChildren();
    box.dataset.place = p.id;
    box.append(el("h2", {}, p.names[state.lang]));
    const rows = [
      ["kind", text(p.kind)],
      ["status", statusText(p)],
      ["address", p.addresses[state.lang]],
      ["hours", hoursText(p.hours)],
      ["directions", list(p.directions.map((d) => text(d)))],
      ["services", list(p.services.map((s) => state.names[s]?.[state.lang] ?? s))],
    ];
    if (p.phone) rows.push(["phone", p.phone]);
    if (p.km !== undefined && state.here) rows.push(["away", distanceText(p.km)]);
    const dl = el("dl");
    for (const [key, value] of rows) {
      dl.append(el("dt", {}, key === "kind" ? "" : text(key)));
      dl.append(el("dd", { "data-field": key }, value));
    }
    box.append(dl);
  }

  function select(id) {
    state.selected = id;
    drawPlaces();
    $("details").scrollIntoView({ block: "nearest" });
  }

  function fillFilters() {
    const service = $("service-filter");
    const city = $("city-filter");
    for (const select of [service, city]) {
      while (select.options.length > 1) select.remove(1);
    }
    const offered = new Set(state.places.flatMap((p) => p.services));
    for (const [id, names] of Object.entries(state.names)) {
      if (offered.has(id)) service.append(el("option", { value: id }, names[state.lang]));
    }
    for (const f of state.cities.features) city.append(el("option", { value: f.properties.id }, f.properties[state.lang]));
    service.value = state.service;
    city.value = state.city;
  }

  function filterChanged() {
    state.service = $("service-filter").value;
    state.city = $("city-filter").value;
    drawPlaces();
  }

  function setLanguage(lang) {
    state.lang = lang;
    localStorage.setItem("vcounter.map.lang", lang);
    document.documentElement.lang = lang;
    for (const node of document.querySelectorAll("[data-text]")) node.textContent = text(node.dataset.text);
    document.title = `${text("title")} · vcounter`;
    for (const b of document.querySelectorAll("[data-language]")) b.setAttribute("aria-pressed", String(b.dataset.language === lang));
    if (state.cities) { fillFilters(); drawLabels(); drawPlaces(); }
  }

  function nearest() {
    if (!navigator.geolocation) { $("notice").textContent = text("noGeolocation"); return; }
    $("notice").textContent = text("locating");
    navigator.geolocation.getCurrentPosition((pos) => {
      state.here = { lat: pos.coords.latitude, lon: pos.coords.longitude };
      $("notice").textContent = text("located");
      const first = shown()[0];
      state.selected = first ? first.id : null;
      drawPlaces();
    }, () => { $("notice").textContent = text("noLocation"); }, { timeout: 10000, maximumAge: 60000 });
  }

  let polling = null;
  async function refresh() {
    try {
      // no-cache: the browser asks with the ETag it has and keeps its copy on a 304
      const response = await fetch("/api/places", { cache: "no-cache" });
      if (!response.ok) throw new Error(String(response.status));
      const body = await response.json();
      state.places = body.places;
      if ($("notice").dataset.stale) { $("notice").textContent = ""; delete $("notice").dataset.stale; }
      drawPlaces();
    } catch {
      $("notice").textContent = text("stale");
      $("notice").dataset.stale = "1";
    }
  }

  function poll() {
    clearTimeout(polling);
    if (document.visibilityState === "hidden") return; // a phone in a pocket asks nothing
    polling = setTimeout(async () => { await refresh(); poll(); }, POLL_MS);
  }

  async function start() {
    state.lang = pickLanguage();
    const [cities, catalogue] = await Promise.all([
      fetch("/api/map/cities").then((r) => r.json()),
      fetch("/api/catalogue").then((r) => r.json()),
    ]);
    state.cities = cities;
    state.extent = cities.bbox;
    for (const s of catalogue.services) state.names[s.id] = s.names;
    drawCities();
    await refresh();
    setLanguage(state.lang);
    for (const b of document.querySelectorAll("[data-language]")) b.addEventListener("click", () => setLanguage(b.dataset.language));
    $("service-filter").addEventListener("change", filterChanged);
    $("city-filter").addEventListener("change", filterChanged);
    $("nearest").addEventListener("click", nearest);
    document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") refresh().then(poll); });
    document.body.dataset.ready = "1";
    poll();
  }

  start();
})();

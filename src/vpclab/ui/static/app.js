// vpclab web view: plain JavaScript and SVG, no library. The server computes the layout;
// this file draws it, runs probes and lifecycle actions through the JSON API, and keeps
// the page live from the server-sent event stream.
"use strict";

const TOKEN = document.querySelector('meta[name="vpclab-token"]').content;
const SVGNS = "http://www.w3.org/2000/svg";
const $ = (sel) => document.querySelector(sel);

const ui = { state: null, src: null, dst: null, vpc: null, lastEvent: 0, matrix: null, busy: false,
             reloadTimer: null, anim: 0, sig: null, present: false, presentPic: false, F: 0 };
window.vpclabSeen = {};  // event id -> Date.now() when it reached the page (bench/ui_bench.py reads it)

async function api(path, body) {
  const opts = { headers: { "X-Vpclab-Token": TOKEN } };
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let resp;
  try { resp = await fetch(path, opts); } catch (e) {
    return { ok: false, data: { error: { code: "Unreachable", message: "the vpclab ui server is not answering" } } };
  }
  let data = null;
  try { data = await resp.json(); } catch (e) { data = { error: { code: "BadResponse", message: resp.statusText } }; }
  return { ok: resp.ok, data };
}

function el(tag, attrs, parent, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function h(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

function errorText(data) {
  const e = (data && data.error) || { code: "Error", message: "failed" };
  return { code: e.code, message: e.message + (e.hint ? " (" + e.hint + ")" : "") };
}

function showError(box, data) {
  const e = errorText(data);
  box.replaceChildren();
  const p = h("div", { class: "err" });
  p.append(h("code", {}, e.code), document.createTextNode(": " + e.message));
  box.append(p);
}

function duration(s) {
  s = Math.round(s || 0);
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return (d ? d + "d" : "") + (hh ? hh + "h" : "") + (m ? m + "m" : "") + (d || hh || m ? "" : s + "s");
}

// ---- topology -------------------------------------------------------------------------------

function peeringOf(id) { return ui.state.status.peerings.find((p) => p.id === id); }

function capText(p) {
  if (p.bandwidth_mbps == null) return "";
  return p.bandwidth_mbps >= 1000 ? (p.bandwidth_mbps / 1000) + " Gbps" : p.bandwidth_mbps + " Mbps";
}

function curve(a, b, mid) {
  const c = [2 * mid[0] - (a[0] + b[0]) / 2, 2 * mid[1] - (a[1] + b[1]) / 2];
  return `M${a[0]},${a[1]} Q${c[0]},${c[1]} ${b[0]},${b[1]}`;
}

function shape(kind, g) {
  if (kind === "cdb") return el("rect", { class: "shape", x: -11, y: -11, width: 22, height: 22, rx: 5 }, g);
  if (kind === "cmem") return el("path", { class: "shape", d: "M0,-13 L13,0 L0,13 L-13,0 Z" }, g);
  if (kind === "clb") return el("path", { class: "shape", d: "M0,-13 L13,10 L-13,10 Z" }, g);
  return el("circle", { class: "shape", r: 11 }, g);
}

// Presentation mode (a projector): the layout with more room (layout_present), and every text of
// the picture at least 18 px on the screen at the whole-lab view (ui.F: the font size in units).
// A lab too big for it (no layout_present) keeps its normal picture; the panel still grows.
function lay() { return ui.presentPic ? ui.state.layout_present : ui.state.layout; }

function fontUnits(W, H) {
  const svg = $("#topo"), s = Math.min(svg.clientWidth / W, svg.clientHeight / H) || 1;  // px per unit
  return Math.max(19, Math.ceil(18.6 / s));
}

// Where a text goes: the normal picture's offsets, or presentation mode's (multiples of ui.F).
function at(normal, present) { return ui.presentPic ? present : normal; }

// A side of a peering as `vpclab graph` draws it: ok, missing (no route back), pending, unused, terminal.
function sideState(p, vpc) {
  const other = vpc === p.vpc ? p.peer_vpc : p.vpc, routes = ui.state.status.routes;
  const via = (v) => routes.some((r) => r.vpc === v && r.next_hop === p.id);
  if (p.state !== "ACTIVE" && p.state !== "PENDING") return "terminal";
  if (!via(vpc)) return via(other) ? "missing" : "unused";
  return p.state === "ACTIVE" ? "ok" : "pending";
}

function fit(text, units) {
  // shortened to the room it has (presentation mode: no label runs onto its neighbour's)
  const n = Math.floor(units / (0.6 * ui.F));
  return !ui.presentPic || text.length <= n ? text : text.slice(0, Math.max(1, n - 1)) + "…";
}

function renderTopo() {
  ui.presentPic = ui.present && !!ui.state.layout_present;
  const L = lay(), svg = $("#topo");
  // A small lab is not blown up to fill the screen: the view is at least 720 x 400 units.
  // The zoom and pan the user chose survive a refresh while the picture keeps its size.
  const W = Math.max(L.width, 720), H = Math.max(L.height, 400), key = `${W}x${H}${ui.presentPic ? "p" : ""}`;
  if (ui.viewKey !== key) { ui.viewKey = key; ui.view = { x: (L.width - W) / 2, y: (L.height - H) / 2, w: W, h: H }; ui.home = { ...ui.view }; }
  setView();
  ui.F = ui.presentPic ? fontUnits(W, H) : 0;
  svg.classList.toggle("present", ui.presentPic);
  svg.style.setProperty("--f", ui.F + "px");
  const F = ui.F;
  // Three layers: the picture, the probe's animation over it, and the peering labels on top
  // (a packet passing a peering never hides its name).
  let base = $("#base");
  if (!base) {
    base = el("g", { id: "base" }, svg);
    el("g", { id: "overlay" }, svg);
    el("g", { id: "topo-peering-labels" }, svg);
  }
  base.replaceChildren();
  for (const r of L.regions) {
    const g = el("g", { class: "region" }, base);
    el("rect", { x: r.x, y: r.y, width: r.w, height: r.h, rx: 10 }, g);
    el("text", { x: r.x + 14, y: at(r.y + 22, r.y + 1.3 * F) }, g, r.name);
  }
  const many = L.peerings.length > 24;
  if (L.internet) drawInternet(L, base);
  $("#legend-v2").hidden = !(L.internet || L.vpcs.some((v) => v.public || v.subnets.some((s) => s.acl)));
  const pg = el("g", { id: "topo-peerings" }, base);
  for (const lp of L.peerings) {
    const p = peeringOf(lp.id);
    const g = el("g", { class: "peering " + p.state, "data-id": p.id }, pg);
    // one line per side, from its router to the middle, drawn as `vpclab graph` draws it:
    // red and dashed where that side has no route back
    const half = (a, b, t) => [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
    const c = [2 * lp.mid[0] - (lp.from[0] + lp.to[0]) / 2, 2 * lp.mid[1] - (lp.from[1] + lp.to[1]) / 2];
    const q1 = half(lp.from, c, 0.5), q2 = half(c, lp.to, 0.5);
    for (const [vpc, d] of [[p.vpc, `M${lp.from[0]},${lp.from[1]} Q${q1[0]},${q1[1]} ${lp.mid[0]},${lp.mid[1]}`],
                            [p.peer_vpc, `M${lp.mid[0]},${lp.mid[1]} Q${q2[0]},${q2[1]} ${lp.to[0]},${lp.to[1]}`]]) {
      const st = sideState(p, vpc);
      el("path", { class: "side " + st, "data-vpc": vpc, "data-side": st, d }, g);
    }
    el("title", {}, g, `${p.id}: ${p.vpc} ↔ ${p.peer_vpc}, ${p.state}${capText(p) ? ", cap " + capText(p) : ""}`);
  }
  if (L.ccns && L.ccns.length) drawCcns(L, base);
  for (const v of L.vpcs) {
    const g = el("g", { class: "vpc" + (ui.vpc === v.name ? " selected" : ""), "data-vpc": v.name }, base);
    el("rect", { class: "box", x: v.x, y: v.y, width: v.w, height: v.h, rx: 6 }, g);
    el("text", { class: "title", x: v.x + 10, y: at(v.y + 20, v.y + 1.25 * F) }, g, v.name);
    el("text", { class: "sub", x: v.x + 10, y: at(v.y + 35, v.y + 2.45 * F) }, g, fit(`${v.cidr} · ${v.account}`, v.w - 20));
    g.addEventListener("click", (ev) => { if (!ev.target.closest(".inst, .subnet")) selectVpc(v.name); });
    for (const s of v.subnets) {
      const sg = el("g", { class: "subnet" + (s.acl ? " acl" : "") + (ui.vpc === v.name && ui.subnet === s.name ? " selected" : ""),
                           "data-subnet": `${v.name}/${s.name}` }, g);
      el("rect", { x: s.x, y: s.y, width: s.w, height: s.h, rx: 4 }, sg);
      const t = el("text", { x: s.x + 5, y: at(s.y + 11, s.y + 1.0 * F) }, sg, s.label.replace(/ · ACL .*$/, ""));
      if (s.acl) el("tspan", { class: "acl-name" }, t, ` · ACL ${s.acl}`);
      sg.addEventListener("click", (ev) => { if (!ev.target.closest(".inst")) { ev.stopPropagation(); selectVpc(v.name, s.name); } });
      for (const i of s.instances) {
        const cls = "inst " + i.kind + (ui.src === i.ref ? " src" : "") + (ui.dst === i.ref ? " dst" : "");
        const ig = el("g", { class: cls, "data-ref": i.ref, transform: `translate(${i.x},${i.y})` }, g);
        el("circle", { class: "ring", r: 16 }, ig);
        shape(i.kind, ig);
        const room = lay() === ui.state.layout_present ? 146 : 62, step = at(11, 1.25 * F);
        let line = at(26, 16 + 0.9 * F);
        el("text", { class: "name", y: line }, ig, fit(i.name, room));
        // its private address: what a peer sees (the EIP is what the Internet sees)
        el("text", { class: "ip", y: (line += step) }, ig, i.ip);
        if (i.eip) {
          // the badge is a probe target of its own: click it to probe the EIP (lab 09's lesson)
          const b = el("g", { class: "eip-badge" + (ui.dst === i.eip ? " dst" : ""), "data-eip": i.eip, "data-of": i.ref }, ig);
          el("rect", { x: 7, y: at(-20, -13 - 1.15 * F), width: at(24, 2.3 * F), height: at(12, 1.15 * F), rx: at(6, 0.5 * F) }, b);
          el("text", { x: at(19, 7 + 1.15 * F), y: at(-11, -13 - 0.25 * F) }, b, "EIP");
          el("title", {}, b, `EIP ${i.eip} of ${i.ref}: click to probe this public address`);
          b.addEventListener("click", (ev) => { ev.stopPropagation(); pickInstance(i.eip); });
          el("text", { class: "eip", y: (line += step) }, ig, i.eip);
        }
        if (i.security_groups.length && !ui.presentPic) {  // presentation mode: in the Routes & rules tab
          const text = i.security_groups.join(",");
          el("text", { class: "groups", y: (line += step) }, ig, text.length > 12 ? text.slice(0, 11) + "…" : text);
        }
        el("title", {}, ig, `${i.ref} (${i.kind}) ${i.ip}` + (i.port ? ` port ${i.port}` : "") +
           (i.eip ? `\nEIP ${i.eip}` : "") + (i.security_groups.length ? `\nsecurity groups: ${i.security_groups.join(", ")}` : ""));
        ig.addEventListener("click", (ev) => { ev.stopPropagation(); pickInstance(i.ref); });
      }
    }
    for (const n of v.nat_gateways) {
      const ng = el("g", { class: "nat", "data-nat": `${v.name}/${n.name}` }, g);
      el("rect", { x: n.x, y: n.y, width: n.w, height: n.h, rx: 4 }, ng);
      el("text", { class: "nat-name", x: n.x + 8, y: at(n.y + 17, n.y + n.h / 2 + 0.35 * F) }, ng, `NAT ${n.name}`);
      el("text", { class: "nat-eip", x: n.x + n.w - 6, y: at(n.y + 17, n.y + n.h / 2 + 0.35 * F) }, ng, n.eip);
      el("title", {}, ng, `NAT gateway ${n.name} of ${v.name}, public address ${n.eip}`);
    }
    el("path", { class: "router", d: `M${v.router[0]},${v.router[1] - 7} l7,7 l-7,7 l-7,-7 Z` }, g);
  }
  // Peering labels in their own top layer, above the boxes and the animation.
  const lg = $("#topo-peering-labels");
  lg.replaceChildren();
  for (const lp of L.peerings) {
    const p = peeringOf(lp.id);
    const text = many ? p.id.replace(/^pcx-/, "") : `${p.id} · ${p.state}` + (capText(p) ? ` · ${capText(p)}` : "");
    const sides = [sideState(p, p.vpc), sideState(p, p.peer_vpc)];
    const g = el("g", { class: "peering " + p.state + (sides.includes("missing") ? " oneway" : ""), "data-label": p.id }, lg);
    const w = text.length * at(6.4, 0.6 * F) + 12, hh = at(18, 1.4 * F);
    el("rect", { x: lp.mid[0] - w / 2, y: lp.mid[1] - hh / 2, width: w, height: hh, rx: hh / 2 }, g);
    el("text", { x: lp.mid[0], y: lp.mid[1] + at(4, 0.35 * F) }, g, text);
    const missing = [p.vpc, p.peer_vpc].filter((v, k) => sides[k] === "missing");
    el("title", {}, g, `${p.id}: ${p.vpc} ↔ ${p.peer_vpc}, ${p.state}` +
       (missing.length ? `; ${missing.join(", ")} has no route back through it (replies are lost)` : ""));
  }
}

// A CCN as `vpclab graph` draws it: a box (owner, region pairs and caps, disabled routes marked),
// joined to each attached VPC by a line in the attachment's state.
function drawCcns(L, base) {
  const F = ui.F, cg = el("g", { id: "topo-ccns" }, base);
  for (const c of L.ccns) {
    const g = el("g", { class: "ccn", "data-ccn": c.id }, cg);
    for (const a of c.attachments) {
      el("line", { class: "ccn-att " + a.state, "data-vpc": a.vpc, x1: a.from[0], y1: a.from[1], x2: a.to[0], y2: a.to[1] }, g);
    }
    el("rect", { class: "box", x: c.x, y: c.y, width: c.w, height: c.h, rx: 8 }, g);
    el("text", { class: "title", x: c.x + 10, y: at(c.y + 20, c.y + 1.25 * F) }, g, `${c.id} (CCN)`);
    c.lines.forEach((t, k) => {
      el("text", { class: t.startsWith("✗") ? "off" : "sub", x: c.x + 10, y: at(c.y + 38 + 14 * k, c.y + (2.45 + 1.2 * k) * F) }, g, t);
    });
    const row = ui.state.status.ccns.find((x) => x.id === c.id);
    el("title", {}, g, `${c.id}: ` + row.attachments.map((a) => `${a.vpc} ${a.state}`).join(", "));
  }
}

function drawInternet(L, base) {
  const I = L.internet;
  // A dashed line from the Internet to each VPC with a way out (an EIP or a NAT gateway), under the boxes.
  const links = el("g", { id: "topo-internet-links" }, base);
  for (const v of L.vpcs.filter((x) => x.public)) {
    el("path", { class: "inet-link", "data-vpc": v.name, d: curve(I.gateway, v.router, [(I.gateway[0] + v.router[0]) / 2, (I.gateway[1] + v.router[1]) / 2]) }, links);
  }
  const g = el("g", { class: "internet", id: "internet" }, base);
  el("rect", { class: "box", x: I.x, y: I.y, width: I.w, height: I.h, rx: 14 }, g);
  const F = ui.F;
  el("text", { class: "title", x: I.x + 12, y: at(I.y + 20, I.y + 1.3 * F) }, g, "Internet");
  el("text", { class: "sub", x: at(I.x + 88, I.x + 12 + 5.5 * F), y: at(I.y + 20, I.y + 1.3 * F) }, g, I.cidr);
  for (const hst of I.hosts) {
    const cls = "inst host" + (ui.src === hst.ref ? " src" : "") + (ui.dst === hst.ref ? " dst" : "");
    const hg = el("g", { class: cls, "data-ref": hst.ref, transform: `translate(${hst.x},${hst.y})` }, g);
    el("circle", { class: "ring", r: 16 }, hg);
    el("circle", { class: "shape", r: 11 }, hg);
    el("path", { class: "globe", d: "M-11,0 H11 M0,-11 C-7,-4 -7,4 0,11 M0,-11 C7,-4 7,4 0,11" }, hg);
    el("text", { y: at(26, 11 + 1.05 * F) }, hg, hst.name);
    el("text", { class: "eip", y: at(37, 11 + 2.15 * F) }, hg, fit(hst.ip + (hst.ports.length ? " :" + hst.ports.join(",") : ""), 206));
    el("title", {}, hg, `${hst.ref} ${hst.ip}` + (hst.ports.length ? ` listening on ${hst.ports.join(", ")}` : ""));
    hg.addEventListener("click", (ev) => { ev.stopPropagation(); pickInstance(hst.ref); });
  }
}

// Wheel zooms around the pointer, dragging the background pans, a double click resets.
function setView() {
  const v = ui.view;
  $("#topo").setAttribute("viewBox", `${v.x} ${v.y} ${v.w} ${v.h}`);
}

function svgPoint(ev) {
  const svg = $("#topo"), pt = svg.createSVGPoint();
  pt.x = ev.clientX; pt.y = ev.clientY;
  return pt.matrixTransform(svg.getScreenCTM().inverse());
}

function wireZoom() {
  const svg = $("#topo");
  svg.addEventListener("wheel", (ev) => {
    if (!ui.view) return;
    ev.preventDefault();
    // a gentle step: one wheel notch (deltaY 100) is about 10 %, however fast the wheel turns
    const p = svgPoint(ev), f = Math.exp(Math.max(-0.1, Math.min(0.1, ev.deltaY * 0.001)));
    const v = ui.view, w = Math.min(ui.home.w * 2, Math.max(ui.home.w / 20, v.w * f)), k = w / v.w;
    ui.view = { x: p.x - (p.x - v.x) * k, y: p.y - (p.y - v.y) * k, w, h: v.h * k };
    setView();
  }, { passive: false });
  let drag = null;
  svg.addEventListener("mousedown", (ev) => {
    if (!ui.view || ev.target.closest(".inst, .vpc")) return;
    drag = { cx: ev.clientX, cy: ev.clientY, v: { ...ui.view }, s: svg.getScreenCTM().a };  // pixels per unit
  });
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    ui.view.x = drag.v.x - (ev.clientX - drag.cx) / drag.s;
    ui.view.y = drag.v.y - (ev.clientY - drag.cy) / drag.s;
    setView();
  });
  window.addEventListener("mouseup", () => { drag = null; });
  svg.addEventListener("dblclick", (ev) => {
    if (ev.target.closest(".inst, .vpc") || !ui.home) return;
    ui.view = { ...ui.home }; setView();
  });
}

// ---- probe ---------------------------------------------------------------------------------

function instances() {
  const out = [];
  for (const v of ui.state.status.vpcs) for (const i of v.instances) out.push({ ref: `${v.name}/${i.name}`, ip: i.ip, port: i.port });
  const net = ui.state.status.internet;
  for (const hst of (net && net.hosts) || []) out.push({ ref: hst.ref, ip: hst.ip, port: hst.ports[0] || null });
  // an EIP is a destination of its own (`vpclab probe SRC EIP`): the public address, not the instance
  for (const v of ui.state.status.vpcs) {
    for (const i of v.instances) if (i.eip) out.push({ ref: i.eip, ip: `EIP of ${v.name}/${i.name}`, port: i.port, eip: true });
  }
  return out;
}

function fillProbeSelects() {
  for (const id of ["#probe-src", "#probe-dst"]) {
    const sel = $(id), keep = id === "#probe-src" ? ui.src : ui.dst;
    sel.replaceChildren(h("option", { value: "" }, "—"));
    for (const i of instances()) if (!(i.eip && id === "#probe-src")) sel.append(h("option", { value: i.ref }, `${i.ref}  ${i.ip}`));
    sel.value = keep || "";
  }
}

function markSelection() {
  document.querySelectorAll(".inst").forEach((g) => {
    g.classList.toggle("src", g.dataset.ref === ui.src);
    g.classList.toggle("dst", g.dataset.ref === ui.dst);
  });
  document.querySelectorAll(".eip-badge").forEach((g) => g.classList.toggle("dst", g.dataset.eip === ui.dst));
  $("#probe-src").value = ui.src || "";
  $("#probe-dst").value = ui.dst || "";
}

function pickInstance(ref) {
  showTab("probe");
  const eip = /^[0-9.]+$/.test(ref);  // an EIP: a destination only
  if (eip && !ui.src) return;
  if (eip && ui.dst) { ui.dst = ref; }
  else if (!ui.src || ui.dst) { ui.src = ref; ui.dst = null; clearOverlay(); $("#verdict").replaceChildren(); }
  else if (ref !== ui.src) { ui.dst = ref; }
  markSelection();
  if (ui.src && ui.dst) runProbe("probe");
}

async function runProbe(kind, spec) {
  spec = spec || { src: ui.src, dst: ui.dst, proto: $("#probe-proto").value,
                   port: $("#probe-proto").value === "icmp" ? null : ($("#probe-port").value || null) };
  const box = $("#verdict");
  if (!spec.src || !spec.dst) { showError(box, { error: { code: "MissingParameter", message: "pick a source and a destination" } }); return; }
  clearOverlay();
  box.replaceChildren(h("p", { class: "muted" }, `${kind === "probe" ? "probing" : "explaining"} ${spec.src} → ${spec.dst} ${spec.proto}${spec.port ? "/" + spec.port : ""} …`));
  setBusy(true);
  const r = await api("/api/" + kind, spec);
  setBusy(false);
  if (!r.ok) { showError(box, r.data); return; }
  showVerdict(r.data, kind);
  animate(r.data);
}

function setBusy(b) {
  ui.busy = b;
  for (const id of ["#probe-go", "#explain-go", "#matrix-go"]) $(id).disabled = b;
}

function legList(cls, label, leg, seen) {
  // seen: the capture points that saw this direction's packet (the probe's `evidence`), ticked.
  const div = h("div", { class: "leg " + cls });
  div.append(h("b", {}, label));
  if (!leg || !leg.path || !leg.path.length) { div.append(document.createTextNode("never sent")); return div; }
  leg.path.forEach((hop, k) => {
    if (k) div.append(document.createTextNode(" → "));
    const last = k === leg.path.length - 1;
    const mark = (seen && seen.has(hop) ? " ✓" : "") + (last && !leg.delivered ? " ✕" : "");
    div.append(h("span", { class: "hop" + (last && !leg.delivered ? " stop" : ""), title: seen && seen.has(hop) ? "seen by a capture here" : "" }, hop + mark));
  });
  return div;
}

function showVerdict(doc, kind) {
  const box = $("#verdict");
  box.replaceChildren();
  box.classList.remove("stale");
  const head = h("p");
  head.append(h("span", { class: "badge " + doc.result, "data-result": doc.result }, doc.result),
              document.createTextNode(`  ${doc.src} → ${doc.dst} ${doc.proto}${doc.port ? "/" + doc.port : ""}` +
                                      (kind === "explain" ? "  (explain: from the model, no packets)" : "") +
                                      (doc.rtt_ms != null ? `  rtt ${doc.rtt_ms} ms` : "")));
  box.append(head);
  const words = doc.animation && doc.animation.stop ? doc.animation.stop.words : null;
  const why = h("div", { class: "why" + (words ? "" : " ok") });
  why.append(h("div", {}, words || "Both ways delivered: the request arrived and the reply came back."));
  if (doc.reason && doc.reason.code) {
    why.append(h("div", { class: "muted" }, `${doc.reason.code}` + (doc.reason.detail ? ` — ${doc.reason.detail}` : "")));
  }
  if (doc.note && doc.note.code) why.append(h("div", { class: "muted" }, `note: ${doc.note.code} — ${doc.note.detail || ""}`));
  if (doc.seen_source) {
    // the address the destination saw the request come from: private over a peering, the EIP or the
    // NAT gateway's address over the Internet (lab 09)
    const seenBox = h("div", { id: "seen-source" });
    seenBox.append(document.createTextNode(`${doc.dst} saw the request come from `), h("code", {}, doc.seen_source));
    const src = instances().find((i) => i.ref === doc.src);
    if (src && src.ip !== doc.seen_source) seenBox.append(document.createTextNode(` (not ${doc.src}'s private ${src.ip})`));
    why.append(seenBox);
  }
  const seen = (dir) => doc.evidence ? new Set(doc.evidence.filter((e) => e.dir === dir).map((e) => e.at)) : null;
  if (doc.animation) {
    why.append(h("div", { class: "muted", id: "anim-source" }, doc.animation.source === "evidence"
      ? "The animation follows the probe's captures, paced by their times (slowed down to be seen)."
      : "The animation follows the analysed path (no captures to follow)."));
  }
  box.append(why, legList("fwd", "request", doc.forward, seen("request")), legList("ret", "reply", doc["return"], seen("reply")));
  if (doc.evidence && doc.evidence.length) {
    box.append(h("h3", {}, "Seen by the captures"));
    const ol = h("ol");
    for (const e of doc.evidence) {
      ol.append(h("li", {}, `${e.at}${e.way ? " " + e.way : ""}: ${e.what || e.dir}${e.t_ms != null ? " at " + e.t_ms + " ms" : ""}` +
                (e.src ? ` (${e.src} → ${e.dst})` : "")));
    }
    box.append(ol);
  }
  if (doc.mismatch) box.append(h("div", { class: "err" }, "mismatch: " + doc.mismatch));
}

// ---- animation -----------------------------------------------------------------------------

function clearOverlay() { ui.anim++; const o = $("#overlay"); if (o) o.replaceChildren(); }

function wait(ms, token) {
  return new Promise((resolve) => setTimeout(resolve, ms)).then(() => token === ui.anim);
}

function moveDot(a, b, ms, cls, token) {
  // One move of the packet dot from a to b in ms, its trail growing behind it. Each trail keeps
  // 3 units to the right of its way, so a reply coming back along the request's hops is seen beside it.
  const len = Math.hypot(b[0] - a[0], b[1] - a[1]) || 1, nx = -(b[1] - a[1]) / len * 3, ny = (b[0] - a[0]) / len * 3;
  a = [a[0] + nx, a[1] + ny]; b = [b[0] + nx, b[1] + ny];
  return new Promise((resolve) => {
    const ov = $("#overlay");
    const trail = el("line", { class: "trail " + cls, x1: a[0], y1: a[1], x2: a[0], y2: a[1] }, ov);
    const dot = el("circle", { class: "packet " + cls, r: 7, cx: a[0], cy: a[1] }, ov);
    const t0 = performance.now();
    function step(now) {
      if (token !== ui.anim) return resolve(false);
      const f = Math.min(1, (now - t0) / ms);
      const x = a[0] + (b[0] - a[0]) * f, y = a[1] + (b[1] - a[1]) * f;
      dot.setAttribute("cx", x); dot.setAttribute("cy", y);
      trail.setAttribute("x2", x); trail.setAttribute("y2", y);
      if (f >= 1) { dot.remove(); return resolve(true); }
      requestAnimationFrame(step);
    }
    requestAnimationFrame(step);
  });
}

function stopMark(pt, stop) {
  // Where the packet stopped: a red cross, the reason's code and its words, on a white halo.
  const g = el("g", { class: "stopmark " + (stop.dir === "reply" ? "ret" : "fwd"), "data-at": stop.at,
                      transform: `translate(${pt[0]},${pt[1]})` }, $("#overlay"));
  el("line", { x1: -9, y1: -9, x2: 9, y2: 9 }, g);
  el("line", { x1: -9, y1: 9, x2: 9, y2: -9 }, g);
  // Near the picture's right edge the words go to the left of the cross, so they are never cut.
  const words = `${stop.dir} stopped: ${stop.short || ""}`;
  const need = 14 + (ui.presentPic ? 0.62 * ui.F : 7.2) * Math.max(words.length, stop.code.length);  // ~ width of the bold text
  const left = ui.view && pt[0] + need > ui.view.x + ui.view.w;
  const code = el("text", { class: "code" }, g, stop.code);
  const text = el("text", { class: "words" }, g, words);
  // The first place where neither line sits on another text of the picture (a title, a label):
  // below the cross, then above it, then further out; on the side with room first.
  const F = ui.presentPic ? ui.F : 11, rows = [[1.3, 2.5], [-2.3, -1.1], [3.7, 4.9], [-3.5, -2.3], [5.1, 6.3], [-4.7, -3.5]];
  const sides = left ? [-1, 1] : [1, -1];
  const others = [...document.querySelectorAll("#topo text")].filter((t) => !g.contains(t))
    .map((t) => t.getBoundingClientRect()).filter((r) => r.width > 0);
  const hits = () => [code, text].some((e) => {
    const a = e.getBoundingClientRect();
    return others.some((b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom);
  });
  const place = (row, dir) => {
    for (const [e, y] of [[code, row[0] * F + (ui.presentPic ? 0 : 8)], [text, row[1] * F + (ui.presentPic ? 0 : 8)]]) {
      e.setAttribute("y", y); e.setAttribute("x", 14 * dir); e.setAttribute("text-anchor", dir < 0 ? "end" : "start");
    }
  };
  let placed = false;
  for (const row of rows) {
    for (const dir of sides) { place(row, dir); if (!hits()) { placed = true; break; } }
    if (placed) break;
  }
  if (!placed) place(rows[0], sides[0]);
  // A card behind the words, so that they stay readable over a box title or a line.
  try {
    const a = code.getBBox(), b = text.getBBox();
    if (!b.width) return;  // not laid out (a hidden view): the halo alone
    const x = Math.min(a.x, b.x) - 4, y = a.y - 3, w = Math.max(a.x + a.width, b.x + b.width) - x + 4;
    const card = el("rect", { class: "card", x, y, width: w, height: b.y + b.height - y + 3, rx: 4 }, g);
    g.insertBefore(card, code);
  } catch (e) { /* not laid out (hidden view): the halo alone */ }
}

// The server turns the probe (its evidence, or its paths) into moves: see ui/animation.py.
async function animate(doc) {
  const token = ++ui.anim, N = lay().nodes, A = doc.animation;
  if (!A) return;
  const ov = $("#overlay");
  ov.dataset.source = A.source;
  ov.dataset.done = "";
  for (const m of A.moves) {
    const a = N[m.from], b = N[m.to], cls = m.dir === "reply" ? "ret" : "fwd";
    if (!a || !b) continue;  // a hop the picture does not draw
    const ok = m.from === m.to ? await wait(m.ms, token) : await moveDot(a, b, m.ms, cls, token);
    if (!ok) return;
    if (m.seen) el("circle", { class: "seen " + cls, r: cls === "ret" ? 22 : 18, cx: b[0], cy: b[1], "data-at": m.to }, ov);
  }
  if (A.stop && N[A.stop.at]) stopMark(N[A.stop.at], A.stop);
  ov.dataset.done = "1";
}

// ---- routes --------------------------------------------------------------------------------

function selectVpc(name, subnet) {
  ui.vpc = name;
  ui.subnet = subnet || null;
  document.querySelectorAll(".vpc").forEach((g) => g.classList.toggle("selected", g.dataset.vpc === name));
  document.querySelectorAll(".subnet").forEach((g) => g.classList.toggle("selected", g.dataset.subnet === `${name}/${subnet}`));
  showTab("routes");
  renderRoutes();
}

function renderRoutes() {
  const box = $("#routes");
  if (!ui.vpc) return;
  const v = ui.state.status.vpcs.find((x) => x.name === ui.vpc);
  if (!v) { ui.vpc = null; box.replaceChildren(h("p", { class: "muted" }, "Click a VPC in the picture.")); return; }
  $("#routes-vpc").textContent = `· ${v.name} (${v.cidr}, ${v.account}, ${v.region})`;
  const rows = ui.state.status.routes.filter((r) => r.vpc === v.name);
  const tables = [...new Set(v.subnets.map((s) => s.route_table).concat(rows.map((r) => r.table)))];
  box.replaceChildren();
  const sub = ui.subnet && v.subnets.find((s) => s.name === ui.subnet);
  const acls = v.network_acls || [], groups = v.security_groups || [];
  if (sub) {
    const acl = acls.find((a) => a.subnets.includes(sub.name));
    box.append(h("p", { class: "picked", id: "subnet-summary" }, `subnet ${sub.name} ${sub.cidr}: route table ${sub.route_table}` +
      (acl ? `, network ACL ${acl.name}` : ", no network ACL (all traffic passes the subnet boundary)")));
  }
  for (const t of tables) {
    const users = v.subnets.filter((s) => s.route_table === t).map((s) => s.name);
    box.append(h("h3", { class: sub && sub.route_table === t ? "picked" : "" }, `table ${t}` + (users.length ? ` — subnets ${users.join(", ")}` : "")));
    const tab = h("table", { "data-table": t });
    tab.innerHTML = "<tr><th>destination</th><th>next hop</th><th>state</th></tr>";
    tab.append(routeRow(v.cidr, "local", "active"));
    for (const r of rows.filter((x) => x.table === t)) tab.append(routeRow(r.destination, r.next_hop, r.state, r.nat, r));
    box.append(tab);
  }
  if (acls.length) {
    box.append(h("h2", {}, "Network ACLs"));
    box.append(h("p", { class: "muted" }, "Stateless, at the subnet boundary; the first matching rule decides, no match drops; a reply needs its own rule."));
    for (const a of acls) {
      const picked = sub && a.subnets.includes(sub.name);
      box.append(h("h3", { class: picked ? "picked" : "" }, `ACL ${a.name} — subnets ${a.subnets.join(", ") || "none"}`));
      box.append(ruleTable("acl", a.name, "inbound", a.inbound, "source"), ruleTable("acl", a.name, "outbound", a.outbound, "destination"));
    }
  }
  if (groups.length) {
    box.append(h("h2", {}, "Security groups"));
    box.append(h("p", { class: "muted" }, "Stateful, at the instance; the first matching rule decides, no match drops; replies of an allowed flow pass."));
    for (const g of groups) {
      box.append(h("h3", {}, `group ${g.name} — ${g.members.length ? "on " + g.members.join(", ") : "on no instance"}`));
      box.append(ruleTable("sg", g.name, "ingress", g.ingress, "source"), ruleTable("sg", g.name, "egress", g.egress, "destination"));
    }
  }
}

function ruleTable(kind, owner, direction, rules, peer) {
  const tab = h("table", { class: "rules", "data-rules": `${kind} ${owner} ${direction}` });
  tab.innerHTML = `<caption>${direction}</caption><tr><th>#</th><th>proto</th><th>ports</th><th>${peer}</th><th>action</th></tr>`;
  rules.forEach((r, k) => {
    const tr = h("tr", { class: r.action });
    const ports = r.ports ? (r.ports[0] === r.ports[1] ? String(r.ports[0]) : `${r.ports[0]}-${r.ports[1]}`) : "all";
    // numbered from 0, as the CLI's --index, explain's "rule N" and `vpclab status` number them
    tr.append(h("td", {}, String(k)), h("td", {}, r.proto), h("td", {}, ports), h("td", {}, r.peer));
    const td = h("td"); td.append(h("span", { class: "tag" + (r.action === "accept" ? " ok" : "") }, r.action)); tr.append(td);
    tab.append(tr);
  });
  const last = h("tr", { class: "drop implicit" });
  last.append(h("td", {}, "*"), h("td", {}, "all"), h("td", {}, "all"), h("td", {}, "no rule matched"));
  const td = h("td"); td.append(h("span", { class: "tag" }, "drop")); last.append(td);
  tab.append(last);
  return tab;
}

function routeRow(dst, hop, state, nat, row) {
  const ccn = row && row.type === "CCN";  // delivered by a CCN: active, or disabled (and why)
  const tr = h("tr", Object.assign({ class: state }, ccn ? { "data-ccn-route": row.ccn_route, title: row.why || "" } : {}));
  const tag = h("span", { class: "tag" + (state === "active" ? " ok" : "") }, state);
  const p = peeringOf(hop);
  tr.append(h("td", {}, dst), h("td", {}, hop + (p && p.state !== "ACTIVE" ? ` (${p.state})` : "") + (nat ? " (NAT gateway)" : "") +
    (ccn ? " (CCN)" : "")));
  const td = h("td"); td.append(tag); tr.append(td);
  return tr;
}

// ---- peerings and the clock ------------------------------------------------------------------

function renderPeerings() {
  const actor = $("#actor"), keep = actor.value;
  actor.replaceChildren(h("option", { value: "" }, "the entitled account (default)"));
  for (const a of ui.state.accounts) actor.append(h("option", { value: a }, a));
  actor.value = keep;
  const box = $("#peerings");
  const tab = h("table");
  tab.innerHTML = "<tr><th>peering</th><th>state</th><th>cap</th><th></th></tr>";
  for (const p of ui.state.status.peerings) {
    const tr = h("tr", { "data-id": p.id });
    const name = h("td");
    name.append(h("div", {}, p.id), h("div", { class: "muted" }, `${p.vpc} → ${p.peer_vpc}`));
    const st = h("td");
    st.append(h("span", { class: "state " + p.state }, p.state));
    if (p.expires_at_text && p.state === "PENDING") st.append(h("div", { class: "muted" }, "expires " + p.expires_at_text));
    const acts = h("td");
    for (const ev of ["accept", "reject", "delete"]) {
      const b = h("button", { "data-event": ev }, ev);
      // a DELETED peering is gone: nothing left to act on
      if (p.state === "DELETED") { b.disabled = true; b.title = `${p.id} is deleted`; }
      b.addEventListener("click", () => peeringAction(p.id, ev));
      acts.append(b);
    }
    tr.append(name, st, h("td", {}, capText(p) || "—"), acts);
    tab.append(tr);
  }
  box.replaceChildren(tab);
  renderCcns();
}

// The CCNs: each attachment with accept / reject / detach, each route with enable / disable, and an
// attach of any VPC that is on no CCN (the same operations as `vpclab ccn ...`).
function renderCcns() {
  const box = $("#ccns"), st = ui.state.status;
  box.replaceChildren();
  box.append(h("h3", {}, "Cloud Connect Networks"));
  const mk = h("button", { "data-event": "ccn-create" }, "create a CCN");  // as the chosen account
  mk.addEventListener("click", () => ccnCreate());
  const para = h("p");
  para.append(mk);
  box.append(para);
  if (!st.ccns) return;  // a lab with no CCN (its status has no CCN keys): the button only
  const on = new Set(st.ccns.flatMap((c) => c.attachments.filter((a) => ["PENDING", "ACTIVE"].includes(a.state)).map((a) => a.vpc)));
  for (const c of st.ccns) {
    const tab = h("table", { "data-ccn": c.id });
    tab.innerHTML = "<tr><th></th><th>state</th><th></th></tr>";
    const head = h("caption", {}, `${c.id} · ${c.account}` + (c.region_pairs.length ? " · " +
      c.region_pairs.map((p) => `${p.regions[0]} ↔ ${p.regions[1]} ${p.mbps >= 1000 ? p.mbps / 1000 + " Gbps" : p.mbps + " Mbps"}`).join(", ") : ""));
    tab.append(head);
    for (const a of c.attachments) {
      const tr = h("tr", { "data-vpc": a.vpc }), acts = h("td");
      const stc = h("td"); stc.append(h("span", { class: "state " + a.state }, a.state));
      for (const ev of ["accept", "reject", "detach"]) {
        const b = h("button", { "data-event": ev }, ev);
        if (ev !== "detach" && a.state !== "PENDING") { b.disabled = true; b.title = `${a.vpc} is ${a.state}, not PENDING`; }
        b.addEventListener("click", () => ccnAction(c.id, ev, { vpc: a.vpc }));
        acts.append(b);
      }
      tr.append(h("td", {}, "VPC " + a.vpc), stc, acts);
      tab.append(tr);
    }
    for (const r of st.ccn_routes.filter((x) => x.ccn === c.id)) {
      const tr = h("tr", { "data-route": r.route, class: r.state, title: r.why || "" }), acts = h("td");
      const stc = h("td"); stc.append(h("span", { class: "tag" + (r.enabled ? " ok" : "") }, r.state));
      const ev = r.enabled ? "route-disable" : "route-enable";
      const b = h("button", { "data-event": ev }, r.enabled ? "disable" : "enable");
      b.addEventListener("click", () => ccnAction(c.id, ev, { route: r.route }));
      acts.append(b);
      tr.append(h("td", {}, `route ${r.route}` + (r.why ? ` — ${r.why}` : "")), stc, acts);
      tab.append(tr);
    }
    const regions = [...new Set(c.attachments.filter((a) => a.state === "ACTIVE").map((a) => a.region)
      .filter(Boolean))].sort();
    if (regions.length > 1) {  // the cap between two of its regions, both ways
      const r1 = h("select", { class: "ccn-bw-r1" }), r2 = h("select", { class: "ccn-bw-r2" });
      for (const r of regions) { r1.append(h("option", { value: r }, r)); r2.append(h("option", { value: r }, r)); }
      r2.value = regions[1];
      const rate = h("input", { class: "ccn-bw-rate", size: 8, placeholder: "200Mbps" });
      const b = h("button", { "data-event": "bandwidth" }, "set cap");
      b.addEventListener("click", () => ccnBandwidth(c.id, r1.value, r2.value, rate.value || "default"));
      const tr = h("tr"), td = h("td", { colspan: 3 });
      td.append("cap ", r1, " ↔ ", r2, " ", rate, b); tr.append(td); tab.append(tr);
    }
    const del = h("button", { "data-event": "delete" }, "delete " + c.id);
    if (on.size && c.attachments.some((a) => ["PENDING", "ACTIVE"].includes(a.state))) {
      del.disabled = true; del.title = "detach its VPCs first (the cloud refuses a CCN with instances)";
    }
    del.addEventListener("click", () => ccnDelete(c.id));
    const dtr = h("tr"), dtd = h("td", { colspan: 3 });
    dtd.append(del); dtr.append(dtd); tab.append(dtr);
    const free = st.vpcs.filter((v) => !on.has(v.name));
    if (free.length) {
      const pick = h("select", { class: "ccn-attach-vpc" });
      for (const v of free) pick.append(h("option", { value: v.name }, v.name));
      const b = h("button", { "data-event": "attach" }, "attach");
      b.addEventListener("click", () => ccnAction(c.id, "attach", { vpc: pick.value }));
      const tr = h("tr"), td = h("td", { colspan: 3 });
      td.append(pick, b); tr.append(td); tab.append(tr);
    }
    box.append(tab);
  }
}

async function ccnPost(path, body, done) {
  const msg = $("#action-msg"), as = $("#actor").value || null;
  const r = await api(path, Object.assign({ as }, body));
  if (!r.ok) { showError(msg, r.data); return; }
  msg.replaceChildren(h("div", { class: "okmsg" }, done(r.data)));
  await load();
}

function ccnCreate() {
  return ccnPost("/api/ccn", {}, (d) => `${d.ccn} created (account ${d.account})`);
}

function ccnDelete(ccn) {
  if (!window.confirm(`Delete ${ccn}? It cannot be undone.`)) {
    $("#action-msg").replaceChildren(h("p", { class: "muted" }, `ccn delete ${ccn}: not sent`));
    return;
  }
  return ccnPost(`/api/ccn/${encodeURIComponent(ccn)}/delete`, {}, (d) => `${d.ccn} deleted`);
}

function ccnBandwidth(ccn, r1, r2, rate) {
  return ccnPost(`/api/ccn/${encodeURIComponent(ccn)}/bandwidth`, { region: r1, dst_region: r2, rate },
    (d) => `${d.ccn} ${d.regions[0]} ↔ ${d.regions[1]}: ${d.bandwidth_mbps} Mbps`);
}

const CCN_ASK = { reject: "Reject {what} on {ccn}?", detach: "Detach {what} from {ccn}? Its routes leave every member's tables.",
                  "route-disable": "Disable {what} on {ccn}? It leaves every table it was delivered to." };

async function ccnAction(ccn, ev, body) {
  const msg = $("#action-msg"), as = $("#actor").value || null, what = body.vpc || body.route;
  if (CCN_ASK[ev] && !window.confirm(CCN_ASK[ev].replace("{what}", what).replace("{ccn}", ccn) + (as ? ` (as ${as})` : ""))) {
    msg.replaceChildren(h("p", { class: "muted" }, `ccn ${ev} ${ccn} ${what}: not sent`));
    return;
  }
  msg.replaceChildren(h("p", { class: "muted" }, `ccn ${ev} ${ccn} ${what}${as ? " as " + as : ""} …`));
  const r = await api(`/api/ccn/${encodeURIComponent(ccn)}/${ev}`, Object.assign({ as }, body));
  if (!r.ok) { showError(msg, r.data); return; }
  msg.replaceChildren(h("div", { class: "okmsg" }, `${ccn}: ${r.data.vpc || r.data.route} is ${r.data.state}`));
  await load();
}

// What a destructive action undoes, asked before it is sent (accept only adds).
const ASK = { reject: "Reject {id}? The request cannot be accepted afterwards.",
              delete: "Delete {id}? Routes through it become blackholes, in both VPCs." };

async function peeringAction(id, ev) {
  const msg = $("#action-msg"), as = $("#actor").value || null;
  if (ASK[ev] && !window.confirm(ASK[ev].replace("{id}", id) + (as ? ` (as ${as})` : ""))) {
    msg.replaceChildren(h("p", { class: "muted" }, `${ev} ${id}: not sent`));
    return;
  }
  msg.replaceChildren(h("p", { class: "muted" }, `${ev} ${id}${as ? " as " + as : ""} …`));
  const r = await api(`/api/peering/${encodeURIComponent(id)}/${ev}`, { as });
  if (!r.ok) { showError(msg, r.data); return; }
  msg.replaceChildren(h("div", { class: "okmsg" }, `${id} is ${r.data.state}`));
  await load();
}

async function clockAdvance() {
  const msg = $("#action-msg");
  if (!window.confirm(`Advance the lab clock by ${$("#clock-by").value}? Pending requests may expire.`)) {
    msg.replaceChildren(h("p", { class: "muted" }, "clock advance: not sent"));
    return;
  }
  const r = await api("/api/clock/advance", { duration: $("#clock-by").value });
  if (!r.ok) { showError(msg, r.data); return; }
  msg.replaceChildren(h("div", { class: "okmsg" }, `clock at ${duration(r.data.clock)}` +
    (r.data.expired.length ? `; expired: ${r.data.expired.join(", ")}` : "")));
  await load();
}

// ---- matrix ------------------------------------------------------------------------------------

const CELL = { reachable: "#1a8f4c", "no-return": "#e8a33d", unreachable: "#c4320a", inconclusive: "#9b59b6" };

async function runMatrix() {
  $("#matrix-msg").textContent = "probing every pair …";
  setBusy(true);
  const r = await api("/api/matrix", {});
  setBusy(false);
  if (!r.ok) { $("#matrix-msg").textContent = ""; showError($("#matrix-hover"), r.data); return; }
  ui.matrix = r.data;
  $("#matrix").classList.remove("stale");
  const s = r.data.summary;
  $("#matrix-msg").textContent = `${r.data.pairs.length} probes in ${r.data.seconds} s: ${s.reachable} reachable, ${s["no-return"]} no-return, ${s.unreachable} unreachable` + (s.inconclusive ? `, ${s.inconclusive} inconclusive` : "");
  drawMatrix();
}

// The heatmap, labelled as `vpclab matrix` prints it: a row per source (the instances, then the
// Internet's hosts), a column per destination and port (each instance, its service port, each
// EIP and Internet host); each cell a probe, coloured by its verdict. SVG, so its labels are
// text the page can measure (the tests check that none sits on another).
function matrixAxes(m) {
  const order = {};
  m.instances.concat(m.public || []).forEach((r, k) => (order[r] = k));
  const rows = [], cols = new Map();
  for (const p of m.pairs) {
    if (!rows.includes(p.src)) rows.push(p.src);
    const key = `${p.dst}|${p.proto}|${p.port || ""}`;
    if (!cols.has(key)) cols.set(key, { key, dst: p.dst, proto: p.proto, port: p.port,
                                        label: p.dst + (p.proto === "icmp" ? "" : ` ${p.proto}/${p.port}`) });
  }
  const rank = (r) => (r in order ? order[r] : 1e6);
  rows.sort((a, b) => rank(a) - rank(b));
  for (const r of m.instances) if (!rows.includes(r)) rows.push(r);
  const cs = [...cols.values()].sort((a, b) => rank(a.dst) - rank(b.dst) || (a.proto === "icmp" ? -1 : 0) -
                                       (b.proto === "icmp" ? -1 : 0) || (a.port || 0) - (b.port || 0));
  return { rows, cols: cs };
}

function drawMatrix() {
  const m = ui.matrix, svg = $("#matrix");
  const { rows, cols } = matrixAxes(m);
  const font = ui.present ? 18 : Math.max(7, Math.min(12, Math.floor(560 / Math.max(cols.length, rows.length)) - 2));
  const cell = Math.max(font + 4, ui.present ? 24 : 0);
  const longest = (xs) => Math.max(...xs.map((x) => x.length), 1);
  const left = Math.ceil(longest(rows) * font * 0.62) + 10, top = Math.ceil(longest(cols.map((c) => c.label)) * font * 0.62) + 10;
  svg.replaceChildren();
  svg.setAttribute("width", left + cols.length * cell + 2);
  svg.setAttribute("height", top + rows.length * cell + 2);
  svg.style.setProperty("--mf", font + "px");
  const byKey = {};
  for (const p of m.pairs) byKey[`${p.src}|${p.dst}|${p.proto}|${p.port || ""}`] = p;
  rows.forEach((r, i) => {
    el("text", { class: "mlabel row", x: left - 6, y: top + i * cell + cell / 2 + font * 0.35, "data-row": r }, svg, r);
  });
  cols.forEach((c, j) => {
    const x = left + j * cell + cell / 2 + font * 0.35, y = top - 6;
    el("text", { class: "mlabel col", x, y, transform: `rotate(-90 ${x} ${y})`, "data-col": c.key }, svg, c.label);
  });
  m.cells = {};
  rows.forEach((r, i) => cols.forEach((c, j) => {
    const p = byKey[`${r}|${c.key}`];
    if (!p) return;  // itself (or a pair the run does not ask)
    const rect = el("rect", { class: "cell " + p.result, x: left + j * cell, y: top + i * cell, width: cell - 1, height: cell - 1,
                              "data-src": p.src, "data-dst": p.dst, "data-proto": p.proto, "data-port": p.port || "" }, svg);
    rect.style.fill = CELL[p.result];
    m.cells[`${i},${j}`] = p;
    rect.addEventListener("mouseenter", () => { $("#matrix-hover").textContent = matrixText(p); });
    rect.addEventListener("click", () => {
      ui.src = p.src; ui.dst = p.dst; $("#probe-proto").value = p.proto; portFor(p.proto);
      if (p.port) $("#probe-port").value = p.port;
      markSelection(); showTab("probe"); runProbe("probe", { src: p.src, dst: p.dst, proto: p.proto, port: p.port || null });
    });
  }));
  m.cell = cell;
}

function matrixText(p) {
  return `${p.src} → ${p.dst}${p.proto === "icmp" ? "" : " " + p.proto + "/" + p.port}: ${p.result}` +
         (p.reason.code ? ` (${p.reason.code} at ${p.reason.where})` : "") + (p.seen_source ? `, seen source ${p.seen_source}` : "");
}

// ---- events --------------------------------------------------------------------------------------

function addEvent(e, fresh) {
  if (e.id <= ui.lastEvent) return;
  ui.lastEvent = e.id;
  window.vpclabSeen[e.id] = Date.now();
  const li = h("li", { value: e.id, "data-id": e.id, "data-wall": e.wall, class: fresh ? "new" : "" });
  const refused = (e.result || "").startsWith("refused");
  li.append(document.createTextNode(`[${duration(e.lab_time)}] ${e.actor || "-"} ${e.action} ${e.target || ""} `));
  li.append(h("span", { class: refused ? "refused" : "" }, e.result + (e.detail ? ` (${e.detail})` : "")));
  $("#events").prepend(li);
}

function connect() {
  const es = new EventSource("/api/stream");
  es.onopen = async () => {
    $("#live").className = "live on"; $("#live").textContent = "● live";
    const r = await api("/api/events?after=" + ui.lastEvent);  // anything missed while connecting
    if (r.ok && r.data.events.length) { r.data.events.forEach((e) => addEvent(e, true)); scheduleReload(); }
  };
  es.onerror = () => { $("#live").className = "live off"; $("#live").textContent = "○ reconnecting"; };
  es.addEventListener("event", (m) => { addEvent(JSON.parse(m.data), true); scheduleReload(); });
  es.addEventListener("changed", () => scheduleReload());
  es.addEventListener("gone", () => { $("#live").className = "live off"; $("#live").textContent = "○ the lab is gone"; });
}

function scheduleReload() {
  clearTimeout(ui.reloadTimer);
  ui.reloadTimer = setTimeout(load, 30);
}

// ---- page --------------------------------------------------------------------------------------

function showTab(name) {
  document.querySelectorAll(".tab").forEach((b) => b.classList.toggle("on", b.dataset.tab === name));
  document.querySelectorAll(".panel").forEach((p) => p.classList.toggle("on", p.id === "panel-" + name));
}

async function load() {
  const r = await api("/api/state");
  if (!r.ok) { showError($("#verdict"), r.data); return; }
  ui.state = r.data;
  const sig = labSignature(r.data.status);
  if (ui.sig !== null && sig !== ui.sig) markStale();
  ui.sig = sig;
  $("#clock").textContent = "lab clock " + duration(r.data.status.clock);
  renderTopo();
  fillProbeSelects();
  renderRoutes();
  renderPeerings();
  if (r.data.events.length && ui.lastEvent === 0) r.data.events.forEach((e) => addEvent(e, false));
  else r.data.events.forEach((e) => addEvent(e, true));
  if (!document.body.dataset.ready) document.body.dataset.readyMs = performance.now().toFixed(1);  // first full render
  document.body.dataset.ready = "1";
}

// The port field follows the protocol: icmp has none (the field is emptied, disabled and not
// sent); tcp or udp to a service instance gets its port filled in.
function portFor(proto) {
  const field = $("#probe-port"), icmp = proto === "icmp";
  field.disabled = icmp;
  if (icmp) { field.value = ""; return; }
  const dst = ui.state && instances().find((i) => i.ref === ui.dst);
  if (!field.value && dst && dst.port) field.value = dst.port;
}

function wire() {
  wireZoom();
  document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
  $("#probe-go").addEventListener("click", () => runProbe("probe"));
  $("#explain-go").addEventListener("click", () => runProbe("explain"));
  $("#probe-src").addEventListener("change", (e) => { ui.src = e.target.value || null; markSelection(); });
  $("#probe-dst").addEventListener("change", (e) => { ui.dst = e.target.value || null; markSelection(); });
  portFor($("#probe-proto").value);
  $("#probe-proto").addEventListener("change", (e) => portFor(e.target.value));
  $("#clock-go").addEventListener("click", clockAdvance);
  $("#matrix-go").addEventListener("click", runMatrix);
  $("#present-toggle").addEventListener("click", () => setPresent(!ui.present));
  window.addEventListener("resize", () => { if (ui.state && ui.present) { ui.viewKey = null; renderTopo(); } });
}

// Presentation mode: `?present=1` or `#present` in the address, or the header's toggle.
function setPresent(on) {
  ui.present = on;
  document.body.classList.toggle("present", on);
  $("#present-toggle").setAttribute("aria-pressed", on ? "true" : "false");
  history.replaceState(null, "", on ? "#present" : location.pathname + location.search.replace(/[?&]present=[^&]*/, ""));
  if (!ui.state) return;
  ui.viewKey = null;  // the other layout: back to the whole lab
  clearOverlay();
  renderTopo();
  if (ui.matrix) drawMatrix();
}

// Results drawn for a lab that has changed since (a peering deleted, a route added) would show an
// answer that is no longer true: they are cleared from the picture and greyed in the panel.
function labSignature(st) {
  return JSON.stringify([st.vpcs, st.routes, st.peerings.map((p) => [p.id, p.state, p.vpc, p.peer_vpc, p.bandwidth_mbps]),
                         st.ccns || [], st.ccn_routes || []]);
}

function markStale() {
  clearOverlay();
  const note = () => h("p", { class: "stale-note" }, "The lab has changed since this result: run it again.");
  const v = $("#verdict");
  if (v.childElementCount && !v.classList.contains("stale")) { v.classList.add("stale"); v.prepend(note()); }
  if (ui.matrix && !$("#matrix").classList.contains("stale")) {
    $("#matrix").classList.add("stale");
    $("#matrix-msg").prepend(note());
  }
}

wire();
setPresent(/(^|[?&])present=(1|true|yes)\b/.test(location.search.slice(1)) || location.hash === "#present");
load().then(connect);

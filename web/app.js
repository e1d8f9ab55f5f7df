// spate dashboard: polls the process's own /api once a second and draws what it answers.
//
// Two rules shape this file:
// - Data reaches the page only through textContent and attributes, never as markup: a dead
//   letter holds whatever a source sent, `<script>` included, and must stay inert text.
// - Nothing moves unless data moved: each response is compared with the previous one and
//   its part of the page is left alone when it is the same; no animations.
// When the server stops answering (the run ended, or the process died) the page keeps the
// last data, dims it and says so; fetch errors are handled, never thrown to the console.
'use strict';
(() => {
  const POLL_MS = 1000;
  const WINDOW_S = 300; // Charts show the last five minutes (the server keeps ten).
  const MIN_SPAN_S = 60; // ... and at least one minute, so a young run is not stretched.
  const NS = 'http://www.w3.org/2000/svg';
  const PATHS = {
    overview: 'api/overview',
    series: 'api/series?seconds=' + WINDOW_S,
    dead: 'api/dead_letters?limit=50',
    landed: 'api/landed',
    kafka: 'api/kafka',
    aggregates: 'api/aggregates',
  };

  const $ = (id) => document.getElementById(id);
  const q = (root, sel) => root.querySelector(sel);

  // Elements: attributes and text only. `text` always goes through textContent.
  function make(ns, tag, attrs, text) {
    const e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  const h = (tag, attrs, text) => make(null, tag, attrs, text);
  const s = (tag, attrs, text) => make(NS, tag, attrs, text);
  function setText(e, t) {
    t = String(t);
    if (e.textContent !== t) e.textContent = t;
  }
  function setAttr(e, k, v) {
    v = String(v);
    if (e.getAttribute(k) !== v) e.setAttribute(k, v);
  }

  // ---- numbers with units ------------------------------------------------------------------
  const nf0 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const nf1 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
  const num = (n) => (n === null || n === undefined || isNaN(n) ? '–' : nf0.format(n));
  const rate = (r) => (r === null || r === undefined ? '–' : (r >= 100 ? nf0 : nf1).format(r));
  function sig3(v) {
    return v >= 100 ? nf0.format(v) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  }
  function secs(v) {
    if (v === null || v === undefined || isNaN(v)) return '–';
    if (v === 0) return '0 ms';
    if (v < 1e-3) return sig3(v * 1e6) + ' µs';
    if (v < 1) return sig3(v * 1e3) + ' ms';
    return sig3(v) + ' s';
  }
  function bytes(b) {
    const u = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (b >= 1000 && i < u.length - 1) {
      b /= 1000;
      i++;
    }
    return (i ? sig3(b) : nf0.format(b)) + ' ' + u[i];
  }
  function span(sec) {
    sec = Math.floor(sec || 0);
    const hh = Math.floor(sec / 3600);
    const mm = Math.floor((sec % 3600) / 60);
    const ss = sec % 60;
    return (hh ? hh + 'h ' : '') + (hh || mm ? mm + 'm ' : '') + ss + 's';
  }
  const pad = (n, w) => String(n).padStart(w || 2, '0');
  function clock(ms, withMs) {
    const d = new Date(ms);
    const t = pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
    return withMs ? t + '.' + pad(d.getMilliseconds(), 3) : t;
  }
  const plural = (n, word) => num(n) + ' ' + word + (n === 1 ? '' : 's');
  const pct = (part, whole) => (whole ? nf1.format((100 * part) / whole) + '%' : '0%');

  // ---- connection state ---------------------------------------------------------------------
  const stateEl = $('state');
  let lastOkMs = 0;
  let lost = false;
  function showState(kind, text) {
    setAttr(stateEl, 'data-state', kind);
    setText(stateEl, text);
    document.body.classList.toggle('stale', kind === 'lost');
  }

  // ---- overview: header, totals, pipeline graph ---------------------------------------------
  function stat(testid, value) {
    const e = q(document, '[data-testid="' + testid + '"]');
    setText(e, num(value));
    setAttr(e, 'data-value', value === undefined || value === null ? '' : value);
  }

  let overview = null;
  function renderOverview(o) {
    overview = o;
    setText($('command'), (o.command || '') + (o.version ? ' ' + o.version : ''));
    const started = o.started_at ? 'started ' + clock(Date.parse(o.started_at)) + ' · ' : '';
    setText($('meta'), started + 'up ' + span(o.uptime_seconds));
    if (!lost) showState(o.state === 'finished' ? 'finished' : 'running', o.state || 'running');
    const t = o.totals || {};
    stat('ingested-total', t.ingested);
    stat('stored-total', t.stored);
    stat('rejected-total', t.rejected);
    stat('dead-letters-total', t.dead_letters);
    const lat = o.latency || {};
    const pair = (l) => (l && l.count ? secs(l.p50_seconds) + ' / ' + secs(l.p99_seconds) : '–');
    setText(q(document, '[data-testid="e2e-latency"]'), pair(lat.end_to_end));
    setText(q(document, '[data-testid="commit-latency"]'), pair(lat.commit));
    renderGraph(o.nodes || [], o.edges || []);
  }

  const NODE_W = 170;
  const NODE_H = 82;
  const GAP_X = 40;
  const GAP_Y = 14;
  const BAND_GAP = 44; // Between two pipelines' rows: room for a label and the edge across.
  let graphKey = '';
  const nodeEls = new Map();

  // One band (a row of columns) per pipeline, so `run --transport kafka` reads as two lines,
  // produce above process, instead of one line too long to read. A node outside every
  // pipeline (a topic) joins the band of the node that feeds it. Within a band, columns are
  // by longest path from a node without inputs: source -> queue -> process -> sinks.
  function layout(nodes, edges) {
    const names = [];
    for (const n of nodes) if (n.pipeline && !names.includes(n.pipeline)) names.push(n.pipeline);
    const band = new Map();
    for (const n of nodes) if (n.pipeline) band.set(n.id, names.indexOf(n.pipeline));
    for (const n of nodes) {
      if (band.has(n.id)) continue;
      const feeds = edges.find((e) => e.to === n.id && band.has(e.from));
      const fed = edges.find((e) => e.from === n.id && band.has(e.to));
      band.set(n.id, feeds ? band.get(feeds.from) : fed ? band.get(fed.to) : 0);
    }
    const col = new Map(nodes.map((n) => [n.id, 0]));
    for (let round = 0; round < nodes.length; round++) {
      let changed = false;
      for (const e of edges) {
        if (!col.has(e.from) || !col.has(e.to) || band.get(e.from) !== band.get(e.to)) continue;
        if (col.get(e.to) < col.get(e.from) + 1) {
          col.set(e.to, col.get(e.from) + 1);
          changed = true;
        }
      }
      if (!changed) break;
    }
    const pos = new Map();
    const labels = [];
    let top = 0;
    let width = 0;
    const bands = Math.max(1, names.length);
    for (let b = 0; b < bands; b++) {
      const cols = [];
      for (const n of nodes) {
        if (band.get(n.id) === b) (cols[col.get(n.id)] = cols[col.get(n.id)] || []).push(n);
      }
      if (!cols.length) continue;
      if (top > 0) top += BAND_GAP;
      if (names.length > 1) labels.push({ text: names[b] + ' pipeline', y: top - 8, top });
      const rows = Math.max(1, ...cols.map((c) => (c ? c.length : 0)));
      const height = rows * NODE_H + (rows - 1) * GAP_Y;
      cols.forEach((c, i) => {
        if (!c) return;
        const y0 = top + (height - (c.length * NODE_H + (c.length - 1) * GAP_Y)) / 2;
        c.forEach((n, j) => pos.set(n.id, { x: i * (NODE_W + GAP_X), y: y0 + j * (NODE_H + GAP_Y), top }));
      });
      width = Math.max(width, cols.length * NODE_W + (cols.length - 1) * GAP_X);
      top += height;
    }
    return { pos, width, height: top, labels };
  }

  function buildGraph(svg, nodes, edges) {
    svg.replaceChildren();
    nodeEls.clear();
    if (!nodes.length) {
      // A component appears once it has reported: before the first batch there is none.
      svg.setAttribute('viewBox', '0 0 400 24');
      svg.setAttribute('width', 400);
      svg.append(s('text', { x: 200, y: 16, class: 'xtick' }, 'waiting for the pipeline to report'));
      return;
    }
    const { pos, width, height, labels } = layout(nodes, edges);
    const m = 2;
    const lh = labels.length ? 16 : 0; // the first band's label sits above the top
    svg.setAttribute('viewBox', -m + ' ' + (-m - lh) + ' ' + (width + 2 * m) + ' ' + (height + 2 * m + lh));
    svg.setAttribute('width', width + 2 * m);
    const defs = s('defs');
    const marker = s('marker', {
      id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
      orient: 'auto-start-reverse',
    });
    marker.append(s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }));
    defs.append(marker);
    svg.append(defs);
    for (const l of labels) svg.append(s('text', { x: 0, y: l.y, class: 'band' }, l.text));
    for (const e of edges) {
      const a = pos.get(e.from);
      const b = pos.get(e.to);
      if (!a || !b) continue;
      if (a.top !== b.top) {
        // Into another band: down from the node, across above the band's label, down again.
        const ym = b.top - BAND_GAP + 12;
        svg.append(s('path', {
          class: 'edge', 'marker-end': 'url(#arrow)',
          d: `M${a.x + NODE_W / 2},${a.y + NODE_H} V${ym} H${b.x + NODE_W / 2} V${b.y - 1}`,
        }));
        continue;
      }
      const x1 = a.x + NODE_W;
      const y1 = a.y + NODE_H / 2;
      const x2 = b.x - 1;
      const y2 = b.y + NODE_H / 2;
      const mx = (x1 + x2) / 2;
      svg.append(s('path', {
        class: 'edge', 'marker-end': 'url(#arrow)',
        d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`,
      }));
    }
    for (const n of nodes) {
      const p = pos.get(n.id);
      const g = s('g', { class: 'node kind-' + n.kind, transform: `translate(${p.x},${p.y})`, 'data-node-id': n.id });
      g.append(s('rect', { width: NODE_W, height: NODE_H, rx: 6 }));
      const title = s('text', { x: 10, y: 19 });
      title.append(s('tspan', { class: 'kind' }, n.kind + ' '), s('tspan', { class: 'name' }, n.name));
      g.append(title);
      const l1 = s('text', { x: 10, y: 39, class: 'big' });
      const l2 = s('text', { x: 10, y: 56 });
      const l3 = s('text', { x: 10, y: 72 });
      g.append(l1, l2, l3);
      let bar = null;
      if (n.kind === 'queue') {
        g.append(s('rect', { x: 96, y: 31, width: 64, height: 10, class: 'track' }));
        bar = s('rect', { x: 96, y: 31, width: 0, height: 10, class: 'fill' });
        g.append(bar);
      }
      svg.append(g);
      nodeEls.set(n.id, { g, l1, l2, l3, bar });
    }
  }

  function renderGraph(nodes, edges) {
    const svg = $('graph');
    const key = JSON.stringify([nodes.map((n) => n.id), edges]);
    if (key !== graphKey) {
      buildGraph(svg, nodes, edges);
      graphKey = key;
    }
    for (const n of nodes) {
      const e = nodeEls.get(n.id);
      if (!e) continue;
      let lines;
      let errors = 0;
      switch (n.kind) {
        case 'source':
          lines = [rate(n.rate) + ' records/s', plural(n.records_total, 'record') + ' · ' + bytes(n.bytes_total || 0),
            'errors ' + num(n.errors_total || 0) + (n.retries_total !== undefined ? ' · retries ' + num(n.retries_total) : '')];
          errors = n.errors_total;
          break;
        case 'queue': {
          const cap = n.capacity || 0;
          lines = [num(n.fill) + ' / ' + num(cap), 'batches waiting', cap && n.fill >= cap ? 'full: backpressure' : ''];
          if (e.bar) setAttr(e.bar, 'width', cap ? Math.round((64 * Math.min(n.fill, cap)) / cap) : 0);
          break;
        }
        case 'topic':
          lines = [n.lag === null || n.lag === undefined ? 'lag –' : num(n.lag) + ' lag', 'messages behind', ''];
          break;
        case 'process':
          lines = [rate(n.rate) + ' records/s', plural(n.rows_total, 'row'), plural(n.dead_letters_total || 0, 'dead letter')];
          errors = n.dead_letters_total;
          break;
        case 'sink':
          lines = [rate(n.rate) + ' rows/s', plural(n.rows_total, 'row') + ' · ' + num(n.rejected_total || 0) + ' rejected',
            'errors ' + num(n.errors_total || 0) + ' · retries ' + num(n.retries_total || 0)];
          errors = n.errors_total;
          break;
        default:
          lines = [n.rate !== undefined ? rate(n.rate) + ' records/s' : '', n.records_total !== undefined ? num(n.records_total) + ' records' : '', ''];
      }
      setText(e.l1, lines[0]);
      setText(e.l2, lines[1]);
      setText(e.l3, lines[2]);
      e.g.classList.toggle('active', (n.rate || 0) > 0 || (n.fill || 0) > 0);
      e.l3.classList.toggle('err', (errors || 0) > 0);
    }
  }

  // ---- charts on one time axis --------------------------------------------------------------
  // Quantiles are null when no record was observed in a second: the line has a gap there.
  let seriesData = null;
  let kafkaData = null;

  const ticksFor = (max) => {
    if (!(max > 0)) max = 1;
    const raw = max / 4;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((v) => v >= raw);
    const top = Math.ceil(max / step) * step;
    const out = [];
    for (let v = 0; v <= top + step / 2; v += step) out.push(v);
    return out;
  };
  function secsAxis(max) {
    if (max < 1e-3) return (v) => nf1.format(v * 1e6) + ' µs';
    if (max < 1) return (v) => nf1.format(v * 1e3) + ' ms';
    return (v) => nf1.format(v) + ' s';
  }
  const countAxis = (v) => (v >= 1e6 ? nf1.format(v / 1e6) + 'M' : v >= 1e4 ? nf1.format(v / 1e3) + 'k' : nf1.format(v));

  // series: [{name, cls, pts: [[unixSeconds, value|null]]}]; fmt formats a latest value.
  function drawChart(fig, t0, t1, series, opt) {
    const svg = q(fig, 'svg');
    const W = Math.max(200, Math.floor(svg.getBoundingClientRect().width) || 400);
    const H = 130;
    const L = 52;
    const R = 8;
    const T = 8;
    const B = 20;
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.setAttribute('height', H);
    let max = opt.floor || 0; // counts: an idle chart still has whole-number ticks
    for (const sr of series) for (const [t, v] of sr.pts) if (v !== null && t >= t0 && v > max) max = v;
    const yt = ticksFor(max);
    const ymax = yt[yt.length - 1];
    const yfmt = opt.axis(ymax);
    const x = (t) => L + ((t - t0) / (t1 - t0 || 1)) * (W - L - R);
    const y = (v) => T + (1 - v / ymax) * (H - T - B);
    const parts = [];
    for (const v of yt) {
      parts.push(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
      parts.push(s('text', { x: L - 6, y: y(v) + 4, class: 'ytick' }, yfmt(v)));
    }
    // As many time labels as fit (about 64 px each), on round seconds.
    const fit = Math.max(2, Math.floor((W - L - R) / 64));
    const step = [5, 10, 15, 30, 60, 120, 300].find((st) => (t1 - t0) / st <= fit) || 600;
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      parts.push(s('line', { x1: x(t), x2: x(t), y1: T, y2: H - B, class: 'grid' }));
      if (x(t) + 24 <= W) parts.push(s('text', { x: x(t), y: H - 5, class: 'xtick' }, clock(t * 1000)));
    }
    parts.push(s('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'axis' }));
    if (opt.limit) {
      parts.push(s('line', { x1: L, x2: W - R, y1: y(opt.limit), y2: y(opt.limit), class: 'limit' }));
    }
    for (const sr of series) {
      let d = '';
      let prevT = null;
      for (const [t, v] of sr.pts) {
        if (t < t0) continue;
        if (v === null || v === undefined) {
          prevT = null;
          continue;
        }
        // A missing sample (more than two seconds apart) is a gap, not a straight line.
        // A segment starts with a zero-length step: with round caps a lone sample is a dot.
        const xy = x(t).toFixed(1) + ',' + y(v).toFixed(1);
        d += prevT === null || t - prevT > 2.5 ? 'M' + xy + 'h0' : 'L' + xy;
        prevT = t;
      }
      parts.push(s('path', { d: d || 'M0,0', class: 'line ' + sr.cls }));
    }
    const cursor = s('line', { y1: T, y2: H - B, class: 'cursor', visibility: 'hidden' });
    parts.push(cursor);
    svg.replaceChildren(...parts);
    const values = [];
    const items = series.map((sr) => {
      const it = h('span', { class: 'item' });
      const b = h('b');
      it.append(h('i', { class: 'sw ' + sr.cls }), document.createTextNode(sr.name + ' '), b);
      values.push(b);
      return it;
    });
    q(fig, '.legend').replaceChildren(...items);
    fig.chart = { x, t0, t1, L, R, W, series, fmt: opt.fmt, cursor, values };
    if (!fig.hoverable) {
      fig.hoverable = true;
      svg.addEventListener('mousemove', (ev) => {
        const c = fig.chart;
        const r = svg.getBoundingClientRect();
        const px = ((ev.clientX - r.left) * c.W) / r.width;
        hoverT = c.t0 + ((px - c.L) / (c.W - c.L - c.R)) * (c.t1 - c.t0);
        if (hoverT < c.t0 || hoverT > c.t1) hoverT = null;
        showCursor();
      });
      svg.addEventListener('mouseleave', () => {
        hoverT = null;
        showCursor();
      });
    }
    showCursor(fig);
  }

  // The cursor: one time under the mouse, marked on every chart, with the values at that
  // second in the legends (the latest values when the mouse is elsewhere).
  let hoverT = null;
  function showCursor(only) {
    const figs = only ? [only] : document.querySelectorAll('.chart');
    const at = hoverT === null ? null : Math.round(hoverT);
    setText($('cursor'), at === null ? '' : '· values at ' + clock(at * 1000));
    for (const fig of figs) {
      const c = fig.chart;
      if (!c) continue;
      c.series.forEach((sr, i) => {
        let v = null;
        if (at === null) {
          for (let j = sr.pts.length - 1; j >= 0 && v === null; j--) v = sr.pts[j][1];
        } else {
          const p = sr.pts.find((pt) => Math.round(pt[0]) === at);
          v = p ? p[1] : null;
        }
        setText(c.values[i], v === null || v === undefined ? '–' : c.fmt(v));
      });
      setAttr(c.cursor, 'visibility', at === null ? 'hidden' : 'visible');
      if (at !== null) {
        setAttr(c.cursor, 'x1', c.x(at));
        setAttr(c.cursor, 'x2', c.x(at));
      }
    }
  }

  function renderCharts() {
    if (!seriesData) return;
    const pts = (seriesData.points || []).map((p) => ({ t: Date.parse(p.time) / 1000, p }));
    if (!pts.length) return;
    const t1 = pts[pts.length - 1].t;
    const t0 = Math.min(Math.max(pts[0].t, t1 - WINDOW_S), t1 - MIN_SPAN_S);
    setText($('window'), clock(t0 * 1000) + ' – ' + clock(t1 * 1000) + ', one point per ' +
      (seriesData.interval_seconds || 1) + ' s');
    const col = (k) => pts.map(({ t, p }) => [t, p[k] === undefined ? null : p[k]]);
    const rfmt = (v) => rate(v) + ' records/s';
    drawChart($('chart-rate'), t0, t1, [
      // Input drawn wider: when processing keeps up the two lines coincide, both visible.
      { name: 'input', cls: 'c0 wide', pts: col('input_rate') },
      { name: 'processing', cls: 'c1', pts: col('processing_rate') },
    ], { axis: () => countAxis, fmt: rfmt, floor: 4 });
    drawChart($('chart-e2e'), t0, t1, [
      { name: 'p50', cls: 'c0', pts: col('end_to_end_p50_seconds') },
      { name: 'p99', cls: 'c3', pts: col('end_to_end_p99_seconds') },
    ], { axis: secsAxis, fmt: secs });
    drawChart($('chart-commit'), t0, t1, [
      { name: 'p50', cls: 'c0', pts: col('commit_p50_seconds') },
      { name: 'p99', cls: 'c3', pts: col('commit_p99_seconds') },
    ], { axis: secsAxis, fmt: secs });
    const queue = (overview && (overview.nodes || []).find((n) => n.kind === 'queue')) || null;
    const cap = queue ? queue.capacity : 0;
    drawChart($('chart-queue'), t0, t1, [{ name: 'fill', cls: 'c2', pts: col('queue_fill') }],
      { axis: () => countAxis, fmt: (v) => nf1.format(v) + (cap ? ' of ' + num(cap) : '') + ' batches', floor: cap, limit: cap });
    // Lag: one line per partition, shown only when the run has Kafka partitions.
    const lagFig = $('chart-lag');
    const parts = kafkaData && kafkaData.partitions ? kafkaData.partitions : [];
    lagFig.hidden = parts.length === 0;
    if (parts.length) {
      const keys = new Set(parts.map((p) => p.topic + '/' + p.partition));
      for (const { p } of pts) for (const k in p.lag || {}) keys.add(k);
      const lines = [...keys].sort().map((k, i) => ({
        name: k, cls: 'c' + (i % 8), pts: pts.map(({ t, p }) => [t, p.lag && k in p.lag ? p.lag[k] : null]),
      }));
      drawChart(lagFig, t0, t1, lines, { axis: () => countAxis, fmt: (v) => num(v) + ' messages', floor: 4 });
    }
  }

  // ---- dead letters -------------------------------------------------------------------------
  // A file origin shows its file name, a long one its end; the whole is in the tooltip.
  function origin(text) {
    let short = text;
    const slash = text.lastIndexOf('/');
    if (text.startsWith('file:') && slash > 5) short = 'file:…' + text.slice(slash);
    else if (text.length > 26) short = '…' + text.slice(-25);
    return h('td', { class: 'origin', title: text }, short);
  }

  function renderDead(d) {
    const list = d.dead_letters || [];
    setText($('dead-count'), num(d.total || 0) + ' total' + (list.length ? ' · latest ' + num(list.length) + ', newest first' : ''));
    $('feed-empty').hidden = list.length > 0;
    const rows = list.map((x) => {
      const tr = h('tr', { 'data-testid': 'dead-letter' });
      tr.append(
        h('td', { class: 'time' }, x.time ? clock(Date.parse(x.time), true) : ''),
        h('td', {}, x.stage || ''),
        h('td', { class: 'reason' }, x.reason || ''),
        origin(x.origin || ''),
        h('td', { class: 'pos' }, num(x.position) + (x.item ? ' #' + x.item : '')),
      );
      const raw = h('td', { class: 'raw' });
      raw.append(h('code', {}, x.raw || ''));
      tr.append(raw);
      return tr;
    });
    $('feed').replaceChildren(...rows);
  }

  // ---- what landed --------------------------------------------------------------------------
  // Where the store keeps an aggregation grouped by a chart's column alone, the chart shows
  // its latest complete window (api/aggregates, issue 19); otherwise the in-process tally.
  const TOP_COUNTRIES = 10;
  const TITLES = { countries: 'Rows by country', gender: 'Gender', ages: 'Age' };
  let landedData = null;
  let aggData = null;
  const dur = (ms) => (ms % 60000 ? ms / 1000 + ' s' : ms / 60000 + ' min');

  // Titles chart `id` and marks its source; the store's window as {list, total, more, moreRows}.
  function fromStore(id, column) {
    const f = ((aggData && aggData.aggregations) || []).map((a) => ({ a, w: !a.error && a.group_by.length === 1 &&
      a.group_by[0] === column && a.windows.find((x) => x.complete) })).find((x) => x.w);
    setAttr($(id), 'data-source', f ? 'store' : 'tally');
    setAttr($(id), 'data-table', f ? f.a.name : '');
    setAttr($(id), 'data-window', f ? f.w.start : '');
    setText($(id + '-title'), f ? f.a.name + ' · ' + clock(Date.parse(f.w.start)) + '–' + clock(Date.parse(f.w.end)) +
      ' (' + dur(f.a.window_ms) + ' window, from the store)' : TITLES[id]);
    if (!f) return null;
    const list = f.w.rows.map((r) => ({ key: r[column], rows: r.users }));
    return { list, total: f.w.users, more: f.w.groups - list.length, moreRows: f.w.users - list.reduce((t, c) => t + c.rows, 0) };
  }

  function renderLanded() {
    const l = landedData || {};
    const total = l.rows || 0;
    const rowsEl = $('landed-rows');
    setText(rowsEl, plural(total, 'row'));
    setAttr(rowsEl, 'data-value', total);
    const err = aggData && aggData.error;
    $('aggregates-error').hidden = !err;
    setText($('aggregates-error'), err ? 'aggregations: ' + err : '');

    const byCountry = fromStore('countries', 'country');
    let countries;
    let ctotal = total;
    if (byCountry) {
      countries = byCountry.list;
      ctotal = byCountry.total;
      if (byCountry.more > 0) countries.push({ key: byCountry.more + ' more countries', rows: byCountry.moreRows, rest: true });
    } else {
      countries = (l.by_country || []).slice().sort((a, b) => b.rows - a.rows);
      if (countries.length > TOP_COUNTRIES + 1) {
        const rest = countries.slice(TOP_COUNTRIES);
        countries = countries.slice(0, TOP_COUNTRIES);
        countries.push({ key: rest.length + ' more countries', rows: rest.reduce((a, c) => a + c.rows, 0), rest: true });
      }
    }
    // Bars are to the scale of the largest country; the remainder is a number, not a bar.
    const cmax = Math.max(1, ...countries.filter((c) => !c.rest).map((c) => c.rows));
    $('countries').replaceChildren(...countries.map((c) => {
      const row = h('div', { class: 'bar' + (c.rest ? ' rest' : '') });
      const track = h('span', { class: 'track' });
      const fill = h('span', { class: 'fill' });
      fill.style.width = c.rest ? '0' : ((100 * c.rows) / cmax).toFixed(1) + '%';
      track.append(fill);
      row.append(h('span', { class: 'k' }, c.key), track, h('span', { class: 'v' }, num(c.rows) + ' · ' + pct(c.rows, ctotal)));
      return row;
    }));

    const byGender = fromStore('gender', 'gender');
    const genders = byGender ? byGender.list : l.by_gender || [];
    const gsum = genders.reduce((a, g) => a + g.rows, 0);
    const stack = h('div', { class: 'stack' });
    const legend = h('div', { class: 'legend' });
    genders.forEach((g, i) => {
      const seg = h('span', { class: 'c' + (i % 8) });
      seg.style.width = gsum ? ((100 * g.rows) / gsum).toFixed(2) + '%' : '0';
      stack.append(seg);
      const it = h('span', { class: 'item' });
      it.append(h('i', { class: 'sw c' + (i % 8) }), document.createTextNode(g.key + ' '),
        h('b', {}, plural(g.rows, 'row') + ' · ' + pct(g.rows, gsum)));
      legend.append(it);
    });
    $('gender').replaceChildren(stack, legend);

    // The store's age bands are their first year (20 for 20-29).
    const byAge = fromStore('ages', 'age_band');
    drawAges(byAge ? byAge.list.sort((a, b) => a.key - b.key).map((b) => ({ key: b.key + '-' + (b.key + 9), rows: b.rows }))
      : l.by_age || []);
  }

  function drawAges(bands) {
    const svg = $('ages');
    const W = Math.max(240, Math.floor(svg.getBoundingClientRect().width) || 400);
    const H = 110;
    const B = 18;
    const T = 14;
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.setAttribute('height', H);
    const max = Math.max(1, ...bands.map((b) => b.rows));
    const bw = W / Math.max(1, bands.length);
    const parts = [s('line', { x1: 0, x2: W, y1: H - B, y2: H - B, class: 'axis' })];
    bands.forEach((b, i) => {
      const bh = ((H - B - T) * b.rows) / max;
      const g = s('g', { 'data-band': b.key });
      g.append(
        s('rect', { x: i * bw + 3, y: H - B - bh, width: Math.max(1, bw - 6), height: bh, class: 'c0' }),
        s('text', { x: i * bw + bw / 2, y: H - 4, class: 'xtick' }, b.key),
        s('text', { x: i * bw + bw / 2, y: H - B - bh - 3, class: 'xtick' }, num(b.rows)),
      );
      parts.push(g);
    });
    svg.replaceChildren(...parts);
  }

  // ---- polling ------------------------------------------------------------------------------
  const seen = {};
  async function fetchText(path) {
    const r = await fetch(path, { cache: 'no-store' });
    if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
    return r.text();
  }
  function changed(key, text) {
    if (seen[key] === text) return false;
    seen[key] = text;
    return true;
  }

  // The test reads these to know that what the page shows was fetched after a given moment:
  // polls-started counts overview requests sent, polls-shown is the one whose data is shown.
  let pollsStarted = 0;
  async function poll() {
    const n = ++pollsStarted;
    document.body.dataset.pollsStarted = n;
    try {
      // While the server is gone, one request a second is enough to notice it is back.
      const keys = lost ? ['overview'] : Object.keys(PATHS);
      const texts = await Promise.all(keys.map((k) => fetchText(PATHS[k])));
      const wasLost = lost;
      lost = false;
      lastOkMs = Date.now();
      if (wasLost) {
        for (const k in seen) delete seen[k];
        setTimeout(poll, 0);
        return;
      }
      let chartsDirty = false;
      let landedDirty = false;
      keys.forEach((k, i) => {
        // The reading's time alone changes every second: it is not a change of data.
        const same = k === 'aggregates' ? texts[i].replace(/"read_at":"[^"]*"/, '') : texts[i];
        if (!changed(k, same)) return;
        const data = JSON.parse(texts[i]);
        if (k === 'overview') renderOverview(data);
        else if (k === 'series') (seriesData = data), (chartsDirty = true);
        else if (k === 'kafka') (kafkaData = data), (chartsDirty = true);
        else if (k === 'dead') renderDead(data);
        else if (k === 'landed') (landedData = data), (landedDirty = true);
        else if (k === 'aggregates') (aggData = data), (landedDirty = true);
      });
      if (chartsDirty) renderCharts();
      if (landedDirty) renderLanded();
      document.body.dataset.pollsShown = n;
      setTimeout(poll, POLL_MS);
    } catch (err) {
      lost = true;
      const since = lastOkMs ? ' · last data ' + clock(lastOkMs) : '';
      const was = overview && overview.state === 'finished' ? 'finished, server stopped' : 'connection lost';
      showState('lost', was + since);
      setAttr(stateEl, 'title', String(err && err.message ? err.message : err));
      setTimeout(poll, POLL_MS);
    }
  }

  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      renderCharts();
      if (landedData || aggData) renderLanded();
    }, 150);
  });

  poll();
})();

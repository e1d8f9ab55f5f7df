// spate schedule: the runs grid of `spate schedule --http`, like Airflow's grid view. Jobs
// are rows, logical intervals columns (newest on the right), each cell one run coloured by
// its state; a Trigger button per job queues a manual run (POST, JSON).
//
// The dashboard's rules hold here too (web/README.md): data reaches the page only through
// textContent and attributes (a run's error is a child's log line: any text at all);
// nothing is redrawn unless its data changed; a failed fetch says "connection lost" and
// keeps the last data, dimmed, without throwing.
'use strict';
(() => {
  const POLL_MS = 2000;
  const RUNS_LIMIT = 1000; // The API's most: the columns come from these.
  const MAX_COLUMNS = 40;
  const LATEST_ROWS = 25;

  const $ = (id) => document.getElementById(id);
  function h(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function setText(e, t) {
    t = String(t);
    if (e.textContent !== t) e.textContent = t;
  }

  const nf0 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const num = (n) => (n === null || n === undefined ? '–' : nf0.format(n));
  const ms = (t) => (t ? Date.parse(t) : null);
  // Times as the API gives them (UTC), without the date when `sameDay`.
  function utc(t, withSeconds) {
    if (!t) return '–';
    const s = t.replace('T', ' ').replace(/\.\d+Z$/, '');
    return withSeconds ? s : s.slice(0, 16);
  }
  function duration(run) {
    const a = ms(run.started_at);
    const b = ms(run.ended_at);
    if (a === null || b === null) return null;
    const s = (b - a) / 1000;
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + ' s';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + Math.round(s % 60) + 's';
    return Math.floor(s / 3600) + 'h ' + Math.round((s % 3600) / 60) + 'm';
  }

  // A cell's title: everything about the run, one fact a line.
  function describe(run) {
    const lines = [
      'run ' + run.run_id + ' · ' + run.job + ' @ ' + run.interval_start,
      'state: ' + run.state + ' (attempt ' + run.attempt + ')',
      'type: ' + run.run_type,
      'interval: ' + run.interval_start + ' – ' + run.interval_end,
      'queued: ' + run.queued_at,
    ];
    if (run.started_at) lines.push('started: ' + run.started_at);
    if (run.ended_at) lines.push('ended: ' + run.ended_at + ' (' + duration(run) + ')');
    if (run.next_try_at) lines.push('next try: ' + run.next_try_at);
    if (run.records_in !== null || run.records_stored !== null || run.records_rejected !== null) {
      lines.push('records: ' + num(run.records_in) + ' in, ' + num(run.records_stored) +
                 ' stored, ' + num(run.records_rejected) + ' rejected');
    }
    if (run.exit_code !== null) lines.push('exit code: ' + run.exit_code);
    if (run.error) lines.push('error: ' + run.error);
    return lines.join('\n');
  }

  // ---- state: what the last answers were --------------------------------------------------
  let jobs = null; // /api/jobs, fetched until it answers (the jobs file does not change).
  let lastRunsText = null;
  let lastRuns = [];
  const rows = new Map(); // job name -> {tr, th}: kept, so a Trigger button is never replaced.
  let pollsStarted = 0;
  let polling = false;
  let pollAgain = false; // A poll was asked for while one ran (after a trigger).

  function setState(state, text) {
    const e = $('state');
    if (e.getAttribute('data-state') !== state) e.setAttribute('data-state', state);
    setText(e, text);
    document.body.classList.toggle('stale', state === 'lost');
  }

  function say(text, isError) {
    const e = $('action');
    setText(e, text);
    e.classList.toggle('error', !!isError);
  }

  async function trigger(name, button) {
    button.disabled = true;
    try {
      const r = await fetch('api/jobs/' + encodeURIComponent(name) + '/trigger', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{}',
      });
      const answer = await r.json().catch(() => ({}));
      if (r.status === 201 && answer.run) {
        say('queued run ' + answer.run.run_id + ' of ' + answer.run.job +
            ' (manual); the scheduler starts it within a second or so');
      } else {
        say('trigger ' + name + ': ' + (answer.error || 'HTTP ' + r.status), true);
      }
    } catch (e) {
      say('trigger ' + name + ': the server did not answer', true);
    } finally {
      button.disabled = false;
    }
    poll();
  }

  function jobRow(name, spec) {
    let row = rows.get(name);
    if (row) return row;
    const tr = h('tr', { 'data-job': name });
    const th = h('th', { class: 'job', scope: 'row' });
    th.appendChild(h('span', { class: 'name' }, name));
    if (spec) {
      const bits = [spec.schedule];
      if (spec.timezone && spec.timezone !== 'UTC') bits.push(spec.timezone);
      bits.push(spec.command);
      if (spec.retries) bits.push(spec.retries + (spec.retries === 1 ? ' retry' : ' retries'));
      if (spec.depends_on.length) bits.push('after ' + spec.depends_on.join(', '));
      th.appendChild(h('span', { class: 'spec' }, bits.join(' · ')));
      const button = h('button', { type: 'button', 'data-testid': 'trigger', 'data-job': name,
                                   title: 'Queue a manual run of ' + name + ' now' }, 'Trigger');
      button.addEventListener('click', () => trigger(name, button));
      th.appendChild(button);
    } else {
      th.appendChild(h('span', { class: 'spec' }, 'not in the jobs file'));
    }
    tr.appendChild(th);
    row = { tr, th };
    rows.set(name, row);
    return row;
  }

  // Columns: a scheduled or backfill run's interval start (one per job and interval), or a
  // manual run of its own (its interval is the instant it was triggered).
  const columnKey = (run) => (run.run_type === 'manual' ? 'm' + run.run_id : 'i' + run.interval_start);

  function drawGrid(runs) {
    const columns = new Map();
    for (const run of runs) {
      const key = columnKey(run);
      if (!columns.has(key)) columns.set(key, { key, start: ms(run.interval_start), id: run.run_id, manual: run.run_type === 'manual' });
    }
    const ordered = [...columns.values()].sort((a, b) => a.start - b.start || a.id - b.id)
      .slice(-MAX_COLUMNS);
    const index = new Map(ordered.map((c, i) => [c.key, i]));
    const withSeconds = ordered.some((c) => c.start % 60000 !== 0);
    const firstDay = ordered.length ? new Date(ordered[0].start).toISOString().slice(0, 10) : '';
    const oneDay = ordered.every((c) => new Date(c.start).toISOString().slice(0, 10) === firstDay);

    const head = $('grid-head');
    while (head.children.length > 1) head.lastChild.remove();
    for (const c of ordered) {
      const iso = new Date(c.start).toISOString();
      let label = oneDay ? iso.slice(11, withSeconds ? 19 : 16) : utc(iso, withSeconds).slice(5);
      head.appendChild(h('th', { class: 'col' + (c.manual ? ' manual' : ''), title: iso },
                         label));
    }

    // Rows: the jobs file's order, then jobs only the history knows.
    const names = (jobs || []).map((j) => j.name);
    for (const run of runs) if (!names.includes(run.job)) names.push(run.job);
    const cells = new Map(names.map((n) => [n, new Array(ordered.length).fill(null)]));
    for (const run of runs) {
      const i = index.get(columnKey(run));
      const line = cells.get(run.job);
      if (i === undefined || !line) continue;
      // Newest first from the API: keep the first seen (one run per job and column).
      if (!line[i]) line[i] = run;
    }
    const body = $('grid-body');
    const specs = new Map((jobs || []).map((j) => [j.name, j]));
    const wanted = [];
    for (const name of names) {
      const { tr } = jobRow(name, specs.get(name));
      while (tr.children.length > 1) tr.lastChild.remove();
      for (const run of cells.get(name)) {
        const td = h('td');
        if (run) {
          const cls = ['cell', 's-' + run.state];
          if (run.run_type !== 'scheduled') cls.push(run.run_type);
          td.appendChild(h('span', {
            class: cls.join(' '), 'data-testid': 'run-cell', 'data-run-id': run.run_id,
            'data-state': run.state, 'data-run-type': run.run_type, title: describe(run),
          }));
        }
        tr.appendChild(td);
      }
      wanted.push(tr);
    }
    for (let i = 0; i < wanted.length; i++) {
      if (body.children[i] !== wanted[i]) body.insertBefore(wanted[i], body.children[i] || null);
    }
    while (body.children.length > wanted.length) body.lastChild.remove();
  }

  function drawLatest(runs) {
    const tbody = $('runs');
    tbody.textContent = '';
    for (const run of runs.slice(0, LATEST_ROWS)) {
      const tr = h('tr', { 'data-testid': 'run-row', 'data-run-id': run.run_id });
      const td = (text, cls) => tr.appendChild(h('td', cls ? { class: cls } : {}, text));
      td(run.run_id, 'n');
      td(run.job);
      td(run.run_type);
      td(utc(run.interval_start, true));
      const state = h('td');
      state.appendChild(h('span', { class: 'badge s-' + run.state }, run.state));
      tr.appendChild(state);
      td(run.attempt, 'n');
      td(utc(run.started_at, true));
      td(duration(run) || '–', 'n');
      td(num(run.records_in), 'n');
      td(num(run.records_stored), 'n');
      td(num(run.records_rejected), 'n');
      td(run.exit_code === null ? '–' : run.exit_code, 'n');
      td(run.error || '', 'error');
      tbody.appendChild(tr);
    }
    $('runs-empty').hidden = runs.length > 0;
  }

  async function fetchJson(path) {
    const r = await fetch(path, { cache: 'no-store' });
    if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
    return r.text();
  }

  async function poll() {
    if (polling) {
      pollAgain = true;
      return;
    }
    polling = true;
    const n = ++pollsStarted;
    document.body.dataset.pollsStarted = n;
    try {
      const wantJobs = jobs === null;
      const [jobsText, runsText] = await Promise.all([
        wantJobs ? fetchJson('api/jobs') : Promise.resolve(null),
        fetchJson('api/runs?limit=' + RUNS_LIMIT),
      ]);
      if (wantJobs) {
        jobs = JSON.parse(jobsText).jobs;
        lastRunsText = null; // Redraw with the jobs' rows.
      }
      if (runsText !== lastRunsText) {
        lastRunsText = runsText;
        lastRuns = JSON.parse(runsText).runs;
        drawGrid(lastRuns);
        drawLatest(lastRuns);
      }
      setState('running', 'live');
      const d = new Date();
      setText($('meta'), jobs.length + (jobs.length === 1 ? ' job' : ' jobs') + ' · ' +
              lastRuns.length + ' runs read · updated ' + d.toISOString().slice(11, 19) + ' UTC');
      document.body.dataset.pollsShown = n;
    } catch (e) {
      setState('lost', 'connection lost');
    } finally {
      polling = false;
      if (pollAgain) {
        pollAgain = false;
        setTimeout(poll, 0);
      }
    }
  }

  poll();
  setInterval(poll, POLL_MS);
})();

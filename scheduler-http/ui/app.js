// rsched dashboard: vanilla ES2020, no dependencies. Job data only ever reaches the DOM as text.
'use strict';
(() => {
  const rawBase = document.body.dataset.base || '';
  // The server replaces __BASE__ with the prefix; fall back to the page's own path if it did not.
  const BASE = (rawBase === '__BASE__'
    ? location.pathname.replace(/\/ui\/?(index\.html)?$/, '')
    : rawBase).replace(/\/+$/, '');

  const NUMERIC = new Set(['weeks', 'days', 'hours', 'minutes', 'seconds', 'jitter', 'misfire_grace_time', 'max_instances', 'timeout',
    'retries', 'retry_delay', 'retry_backoff', 'retry_max_delay']);
  const TRIGGER_FIELDS = {
    cron: ['year', 'month', 'day', 'week', 'day_of_week', 'hour', 'minute', 'second', 'start_date', 'end_date'],
    interval: ['weeks', 'days', 'hours', 'minutes', 'seconds', 'start_date', 'end_date'],
    date: ['run_date'],
    crontab: ['expr'],
    quartz: ['expr'],
  };
  // What the expr field of each dialect looks like.
  const EXPR_PLACEHOLDER = {
    crontab: '*/5 9-17 * * mon-fri   (or 6 fields, seconds first)',
    quartz: '0 0 9 ? * MON-FRI   (seconds first, 1 = Sunday, optional year)',
  };
  const COMMON_TRIGGER = ['timezone', 'jitter'];
  const PREVIEW_NAMES = new Set(['trigger', 'calendars', ...COMMON_TRIGGER, ...Object.values(TRIGGER_FIELDS).flat()]);
  const EVENT_NAMES = ['job_added', 'job_removed', 'job_modified', 'job_quarantined', 'job_submitted', 'job_executed', 'job_error',
    'job_retry', 'job_missed', 'job_max_instances', 'scheduler_started', 'scheduler_shutdown', 'scheduler_paused',
    'scheduler_resumed', 'all_jobs_removed', 'lagged', 'event'];
  const MAX_ACTIVITY = 20;
  const HISTORY_EVENTS = new Set(['job_executed', 'job_error', 'job_retry', 'job_missed', 'job_max_instances']);
  const HISTORY_LIMIT = 50;
  const TIMELINE_SECONDS = 3600;
  const TIMELINE_JOBS = 25; // the soonest jobs only: a timeline of 10,000 rows helps no one
  const PAGE_SIZE = 100;
  const PROBLEMS_PAGE = 50;
  const EVENT_REFRESH_MS = 1000; // events may come by the thousand: refresh at most once a second
  const RUN_OUTCOMES = ['success', 'error', 'timed_out', 'crashed', 'interrupted'];
  const FAILED_OUTCOMES = ['error', 'timed_out', 'crashed'];

  const $ = (id) => document.getElementById(id);
  const form = $('job-form');

  // ---- DOM helpers -------------------------------------------------------------------------
  function el(tag, props = {}, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (v == null || v === false) continue;
      if (k === 'class') n.className = v;
      else if (k === 'dataset') Object.assign(n.dataset, v);
      else if (k === 'style') n.style.cssText = v;
      else n.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of kids.flat()) {
      if (c != null && c !== false) n.append(c instanceof Node ? c : String(c)); // strings become text nodes
    }
    return n;
  }

  // ---- Dates -------------------------------------------------------------------------------
  const FMT = new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  const FMT_TIME = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const FMT_HM = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
  const VIEWER_TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local';

  function parseIso(s) {
    if (!s) return null;
    // Python isoformat has microseconds; keep milliseconds so every engine parses it.
    const d = new Date(String(s).replace(/(\.\d{3})\d+/, '$1'));
    return Number.isNaN(d.getTime()) ? null : d;
  }
  function fmtLocal(s) {
    const d = parseIso(s);
    return d ? FMT.format(d) : String(s);
  }

  // ---- Banner ------------------------------------------------------------------------------
  let bannerKind = null;
  function showBanner(msg, kind = 'error') {
    $('banner-text').textContent = msg;
    $('banner').hidden = false;
    $('banner').dataset.kind = kind;
    bannerKind = kind;
  }
  function hideBanner(kind) {
    if (kind && bannerKind !== kind) return;
    $('banner').hidden = true;
    bannerKind = null;
  }

  // ---- API ---------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(method, path, body) {
    const opts = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      // The scheduler info route is the prefix itself (`/scheduler`, not `/scheduler/`).
      const url = path === '/' && BASE ? BASE : BASE + path;
      res = await fetch(url, opts);
    } catch (e) {
      throw new ApiError(0, `Network error: ${e.message}`);
    }
    if (res.status === 401) {
      showBanner('Authentication required', 'auth');
      throw new ApiError(401, 'Authentication required');
    }
    const text = res.status === 204 ? '' : await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = text; }
    }
    if (!res.ok) {
      const msg = (data && typeof data === 'object' && data.error_message)
        || (typeof data === 'string' && data.trim()) || `HTTP ${res.status} ${res.statusText}`;
      throw new ApiError(res.status, msg);
    }
    return data;
  }

  // ---- Scheduler status --------------------------------------------------------------------
  const sched = { running: null, paused: null, host: '' }; // paused: null = unknown

  async function loadStatus() {
    const s = await api('GET', '/');
    sched.running = !!s.running;
    if (typeof s.paused === 'boolean') sched.paused = s.paused;
    else if (s.state === 2 || s.state === 'paused') sched.paused = true;
    else if (s.state === 1 || s.state === 'running') sched.paused = false;
    if (!sched.running) sched.paused = false;
    sched.host = s.current_host || '';
    sched.clock = s.clock || null;
    renderStatus();
  }

  function renderStatus() {
    const label = sched.running == null ? 'unknown'
      : !sched.running ? 'stopped' : sched.paused ? 'paused' : 'running';
    const badge = $('sched-state');
    badge.textContent = label;
    badge.dataset.state = label;
    $('host').textContent = sched.host || '—';
    // This host's clock is off from the store's (the scheduler follows the store's clock).
    const skew = $('clock-skew');
    const warning = sched.clock && sched.clock.warning;
    skew.hidden = !warning;
    if (warning) {
      const off = sched.clock.offset_seconds;
      skew.textContent = `clock ${off < 0 ? '+' : '−'}${Math.abs(off).toFixed(1)} s`;
      skew.title = warning;
    }
    // Pause state is only known from events/actions: keep both buttons usable when unsure.
    $('btn-start').disabled = sched.running === true;
    $('btn-shutdown').disabled = sched.running === false;
    $('btn-pause').disabled = sched.running === false || sched.paused === true;
    $('btn-resume').disabled = sched.running === false || sched.paused === false;
  }

  async function schedulerAction(action, button) {
    button.disabled = true;
    try {
      await api('POST', `/${action}`);
      if (action === 'pause') sched.paused = true;
      if (action === 'resume') sched.paused = false;
      if (action === 'start') { sched.running = true; sched.paused = false; }
      if (action === 'shutdown') { sched.running = false; sched.paused = false; }
      renderStatus();
    } catch (e) {
      if (e.status !== 401) showBanner(`${action}: ${e.message}`);
      renderStatus();
    }
    refreshAll();
  }

  // ---- Jobs table (one page at a time, filtered by the server) --------------------------
  let jobsById = new Map();
  // cursors[i] starts page i (null: the first page); the filters reset it.
  const listing = { cursors: [null], page: 0, next: null, total: null, q: '', state: '', tag: '' };

  function listingQuery() {
    const p = new URLSearchParams({ limit: String(PAGE_SIZE), include: 'last_run' });
    if (listing.q) p.set('q', listing.q);
    if (listing.state) p.set('state', listing.state);
    if (listing.tag) p.set('tag', listing.tag);
    const cursor = listing.cursors[listing.page];
    if (cursor) p.set('cursor', cursor);
    return p.toString();
  }

  async function loadJobs() {
    const page = await api('GET', `/jobs?${listingQuery()}`);
    const list = page && Array.isArray(page.jobs) ? page.jobs : [];
    jobsById = new Map(list.map((j) => [String(j.id), j]));
    listing.next = page ? page.next_cursor || null : null;
    listing.total = page ? page.total : null;
    renderJobs(list);
    renderPager(list.length);
  }

  function renderPager(shown) {
    const first = listing.page * PAGE_SIZE;
    const total = listing.total == null ? '?' : listing.total.toLocaleString();
    $('page-info').textContent = shown
      ? `${(first + 1).toLocaleString()}–${(first + shown).toLocaleString()} of ${total}`
      : `0 of ${total}`;
    $('page-prev').disabled = listing.page === 0;
    $('page-next').disabled = !listing.next;
  }

  function setFilters() {
    listing.q = $('job-search').value.trim();
    listing.state = $('job-state').value;
    listing.tag = $('job-tag').value.trim();
    listing.cursors = [null];
    listing.page = 0;
    for (const b of document.querySelectorAll('#summary [data-filter-state]')) {
      b.setAttribute('aria-pressed', String(b.dataset.filterState === listing.state));
    }
    loadJobs().catch(reportRefreshError);
  }

  let filterTimer = null;
  function scheduleFilters() {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(setFilters, 250);
  }

  function turnPage(step) {
    if (step > 0 && listing.next) {
      listing.cursors[listing.page + 1] = listing.next;
      listing.page += 1;
    } else if (step < 0 && listing.page > 0) {
      listing.page -= 1;
    } else {
      return;
    }
    loadJobs().catch(reportRefreshError);
  }

  function renderJobs(jobs) {
    const rows = jobs.map(jobRow);
    if (!rows.length) {
      const filtered = listing.q || listing.state || listing.tag;
      rows.push(el('tr', { class: 'empty' }, el('td', { colspan: 8 },
        filtered ? 'No job matches these filters.' : 'No jobs yet. Use “New job” to add one.')));
    }
    $('jobs').tBodies[0].replaceChildren(...rows);
  }

  function lastRunCell(run) {
    if (!run) return el('td', { class: 'last-run muted' }, '—');
    const outcome = String(run.outcome || 'unknown');
    const when = run.started || run.scheduled_run_time;
    return el('td', { class: 'last-run', dataset: { outcome }, title: run.error ? String(run.error) : null },
      el('span', { class: `badge outcome-${outcome}` }, outcome),
      el('span', { class: 'when' }, when ? fmtLocal(when) : ''),
      run.duration == null ? null : el('span', { class: 'when' }, ` · ${fmtSeconds(run.duration)}`));
  }

  function fmtSeconds(secs) {
    const ms = Math.round(Number(secs) * 1000);
    return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  }

  function jobRow(job) {
    const paused = job.next_run_time == null;
    const btn = (action, label, cls) => el('button', { type: 'button', class: cls, dataset: { action } }, label);
    const next = paused
      ? el('span', { class: 'muted' }, '—')
      : [el('div', {}, fmtLocal(job.next_run_time)),
        el('div', { class: 'raw mono' }, String(job.next_run_time))];
    return el('tr', { dataset: { jobId: String(job.id) }, class: paused ? 'is-paused' : null },
      el('td', { class: 'mono' }, el('a', { class: 'job-link', href: jobHref(job.id) }, String(job.id))),
      el('td', {}, job.name == null ? '' : String(job.name)),
      el('td', { class: 'mono' }, job.func == null ? '' : String(job.func)),
      el('td', { class: 'mono', title: job.timezone ? `zone ${job.timezone}` : null },
        String(job.trigger_description || job.trigger || '')),
      el('td', { class: 'next', title: paused ? null : `${job.next_run_time} (job zone ${job.timezone || '?'})` }, next),
      lastRunCell(job.last_run),
      el('td', { class: 'state', dataset: { state: paused ? 'paused' : 'scheduled' } }, paused ? 'paused' : 'scheduled'),
      el('td', { class: 'actions' },
        paused ? btn('resume', 'Resume') : btn('pause', 'Pause'),
        btn('run', 'Run now'), btn('edit', 'Edit'), btn('history', 'History'), btn('delete', 'Delete', 'danger')));
  }

  async function onJobAction(ev) {
    const b = ev.target.closest('button[data-action]');
    if (!b) return;
    const row = b.closest('tr[data-job-id]');
    if (!row) return;
    const id = row.dataset.jobId;
    const action = b.dataset.action;
    if (action === 'edit') {
      const job = jobsById.get(id);
      if (job) openForm('edit', job);
      return;
    }
    if (action === 'history') { location.hash = jobHref(id); return; }
    if (action === 'delete' && !window.confirm(`Delete job "${id}"?`)) return;
    const path = `/jobs/${encodeURIComponent(id)}`;
    b.disabled = true;
    try {
      if (action === 'delete') await api('DELETE', path);
      else await api('POST', `${path}/${action}`);
    } catch (e) {
      if (e.status !== 401) showBanner(`${action} ${id}: ${e.message}`);
    } finally {
      b.disabled = false;
    }
    refreshAll();
  }

  // ---- Run history -----------------------------------------------------------------------
  let historyTimer = null;
  let historySeq = 0;

  function fmtDuration(started, finished) {
    const a = parseIso(started);
    const b = parseIso(finished);
    if (!a || !b) return '—';
    const ms = Math.max(0, b.getTime() - a.getTime());
    return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  }

  // A return value in one short line (the whole value is in the cell's title).
  function shortJson(v) {
    const text = JSON.stringify(v);
    return text.length > 120 ? `${text.slice(0, 117)}…` : text;
  }

  function historyRow(r) {
    const outcome = String(r.outcome || 'unknown');
    return el('tr', { dataset: { outcome } },
      el('td', { class: 'when', title: r.scheduled_run_time == null ? null : String(r.scheduled_run_time) },
        r.scheduled_run_time == null ? '—' : fmtLocal(r.scheduled_run_time)),
      el('td', { class: 'attempt' }, r.attempt == null ? '1' : String(r.attempt)),
      el('td', {}, el('span', { class: `badge outcome-${outcome}` }, outcome),
        r.backfill ? el('span', { class: 'badge muted' }, 'backfill') : null),
      el('td', { class: 'duration' }, fmtDuration(r.started, r.finished)),
      el('td', { class: 'mono' }, r.scheduler_id == null ? '—' : String(r.scheduler_id)),
      r.error == null || r.error === ''
        ? el('td', { class: 'muted' }, '—')
        : el('td', { class: 'run-error' }, String(r.error)),
      r.result == null
        ? el('td', { class: 'muted' }, '—')
        : el('td', { class: 'run-result mono', title: JSON.stringify(r.result) }, shortJson(r.result)));
  }

  async function loadHistory() {
    const panel = $('history-panel');
    if (panel.hidden) return;
    clearTimeout(historyTimer);
    const id = panel.dataset.jobId;
    const seq = ++historySeq;
    const body = $('history').tBodies[0];
    panel.dataset.state = 'loading';
    try {
      const runs = await api('GET', `/jobs/${encodeURIComponent(id)}/runs?limit=${HISTORY_LIMIT}`);
      if (seq !== historySeq) return;
      const rows = (Array.isArray(runs) ? runs : []).map(historyRow);
      if (!rows.length) rows.push(el('tr', { class: 'empty' }, el('td', { colspan: 5 }, 'No runs recorded yet.')));
      $('history-error').textContent = '';
      $('history').hidden = false;
      body.replaceChildren(...rows);
      panel.dataset.state = 'ok';
    } catch (e) {
      if (seq !== historySeq) return;
      $('history-error').textContent = e.message;
      $('history').hidden = true;
      body.replaceChildren();
      panel.dataset.state = 'error';
    }
  }

  function scheduleHistory(delay = 300) {
    clearTimeout(historyTimer);
    historyTimer = setTimeout(loadHistory, delay);
  }

  function openHistory(id) {
    const panel = $('history-panel');
    panel.dataset.jobId = id;
    $('history-title').textContent = `Run history — ${id}`;
    $('backfill-result').textContent = '';
    $('history-error').textContent = '';
    $('history').hidden = false;
    $('history').tBodies[0].replaceChildren(el('tr', { class: 'loading' }, el('td', { colspan: 5, class: 'muted' }, 'Loading…')));
    panel.hidden = false;
    panel.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    $('history-close').focus({ preventScroll: true });
    loadHistory();
  }

  // A backfill of the job whose history is open: [start, end) in the viewer's local time.
  async function onBackfill(ev) {
    ev.preventDefault();
    const id = $('history-panel').dataset.jobId;
    const f = $('backfill-form');
    const out = $('backfill-result');
    const start = f.elements.start.value;
    const end = f.elements.end.value;
    if (!id || !start || !end) {
      out.textContent = 'Give a start and an end.';
      return;
    }
    try {
      const report = await api('POST', `/jobs/${encodeURIComponent(id)}/backfill`, {
        start: new Date(start).toISOString(),
        end: new Date(end).toISOString(),
        overlap: f.elements.overlap.value,
      });
      out.textContent = report.fire_times === 0
        ? 'No fire time in that range.'
        : `Backfilling ${report.fire_times} fire time(s), ${fmtLocal(report.first)} to ${fmtLocal(report.last)}.`;
      scheduleHistory(1000);
    } catch (e) {
      out.textContent = e.message;
    }
  }

  function closeHistory() {
    const panel = $('history-panel');
    if (panel.hidden) return;
    const id = panel.dataset.jobId;
    panel.hidden = true;
    clearTimeout(historyTimer);
    historySeq++;
    delete panel.dataset.jobId;
    delete panel.dataset.state;
    if (currentView().view === 'job') location.hash = '#/jobs';
    $('jobs').querySelector(`tr[data-job-id="${CSS.escape(id || '')}"] button[data-action="history"]`)?.focus();
  }

  // ---- Timeline ----------------------------------------------------------------------------
  let timelineData = [];

  async function loadTimeline() {
    const d = await api('GET', `/timeline?seconds=${TIMELINE_SECONDS}&jobs=${TIMELINE_JOBS}`);
    timelineData = Array.isArray(d) ? d : [];
    renderTimeline();
  }

  function renderTimeline() {
    const chart = $('timeline-chart');
    const start = Date.now();
    const span = TIMELINE_SECONDS * 1000;
    const pct = (t) => ((t - start) / span) * 100;

    const ticks = [];
    for (let i = 0; i <= 6; i++) {
      const t = start + i * 600e3;
      const edge = i === 0 ? 'first' : i === 6 ? 'last' : null;
      ticks.push(el('span', { class: 'tl-tick', dataset: edge ? { edge } : {}, style: `left:${(i / 6) * 100}%` },
        i === 0 ? 'now' : FMT_HM.format(new Date(t))));
    }
    const rows = [el('div', { class: 'tl-row tl-axis-row' }, el('span', { class: 'tl-label' }), el('div', { class: 'tl-axis' }, ticks))];

    for (const entry of timelineData) {
      const times = (entry.fire_times || []).map((s) => [s, parseIso(s)]).filter(([, d]) => d);
      const marks = [];
      for (const [raw, d] of times) {
        const p = pct(d.getTime());
        if (p < 0 || p > 100) continue;
        marks.push(el('div', {
          class: 'tl-mark', style: `left:${p.toFixed(3)}%`, dataset: { time: raw },
          title: `${entry.job_id} — ${FMT.format(d)} (${raw})`,
        }));
      }
      const label = String(entry.job_id);
      rows.push(el('div', { class: 'tl-row', dataset: { jobId: label } },
        el('span', { class: 'tl-label mono', title: `${entry.name || label}: ${marks.length} run(s) in the next hour` }, label),
        el('div', { class: 'tl-track' }, marks)));
    }
    if (!timelineData.length) rows.push(el('div', { class: 'tl-empty muted' }, 'No runs in the next hour.'));
    chart.replaceChildren(...rows);
  }

  // ---- Refresh -----------------------------------------------------------------------------
  let refreshTimer = null;
  function scheduleRefresh(delay = 150) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refreshAll, delay);
  }

  // Stored jobs that cannot be scheduled; the section shows only when there are some.
  async function loadQuarantine() {
    const list = await api('GET', '/quarantine');
    const rows = (Array.isArray(list) ? list : []).map((q) =>
      el('tr', { dataset: { quarantinedId: q.id } },
        el('td', { class: 'mono' }, q.id),
        el('td', {}, q.jobstore || 'default'),
        el('td', { class: 'run-error' }, q.reason || '—'),
        el('td', { class: 'actions' },
          el('button', { type: 'button', class: 'danger', dataset: { action: 'delete-quarantined' } }, 'Delete'))));
    $('quarantine').querySelector('tbody').replaceChildren(...rows);
    $('quarantine-section').hidden = rows.length === 0;
  }

  async function onQuarantineAction(ev) {
    const b = ev.target.closest('button[data-action="delete-quarantined"]');
    const id = b?.closest('tr')?.dataset.quarantinedId;
    if (!id || !window.confirm(`Delete the quarantined job ${id}? Its stored state is lost.`)) return;
    try {
      await api('DELETE', `/jobs/${encodeURIComponent(id)}`);
    } catch (e) {
      showBanner(`Could not delete ${id}: ${e.message}`);
    }
    scheduleRefresh();
  }

  function reportRefreshError(e) {
    if (e && e.status !== 401) showBanner(`Refresh failed: ${e.message}`, 'refresh');
  }

  async function refreshAll() {
    clearTimeout(refreshTimer);
    const { view, id } = currentView();
    const loads = [loadStatus(), loadSummary()];
    if (view === 'jobs') loads.push(loadJobs(), loadTimeline(), loadQuarantine());
    if (view === 'problems') loads.push(loadProblems(false));
    if (view === 'job') loads.push(loadJobPage(id), loadHistory());
    const results = await Promise.allSettled(loads);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      reportRefreshError(failed.reason);
    } else {
      hideBanner('refresh');
      hideBanner('auth');
    }
  }

  // ---- Summary bar -------------------------------------------------------------------------
  function sumOf(counts, names) {
    return names.reduce((n, name) => n + (Number(counts && counts[name]) || 0), 0);
  }

  async function loadSummary() {
    const s = await api('GET', '/summary');
    const jobs = s.jobs || {};
    for (const name of ['total', 'scheduled', 'paused', 'running', 'quarantined']) {
      $(`sum-${name}`).textContent = jobs[name] == null ? '—' : Number(jobs[name]).toLocaleString();
    }
    for (const span of ['1h', '24h']) {
      const counts = (s.runs || {})[span] || {};
      $(`sum-${span}-runs`).textContent = sumOf(counts, RUN_OUTCOMES).toLocaleString();
      $(`sum-${span}-failures`).textContent = sumOf(counts, FAILED_OUTCOMES).toLocaleString();
      $(`sum-${span}-missed`).textContent = sumOf(counts, ['missed']).toLocaleString();
    }
    const p99 = s.lateness_seconds ? s.lateness_seconds.p99 : null;
    $('sum-p99').textContent = p99 == null ? '—' : `≤ ${fmtSeconds(p99)}`;
  }

  // ---- Problems view -----------------------------------------------------------------------
  const problems = { before: null };

  function problemRow(r) {
    const outcome = String(r.outcome || 'unknown');
    return el('tr', { dataset: { outcome, jobId: String(r.job_id) } },
      el('td', { class: 'when', title: String(r.scheduled_run_time || '') }, fmtLocal(r.scheduled_run_time)),
      el('td', { class: 'mono' }, el('a', { class: 'job-link', href: jobHref(r.job_id) }, String(r.job_id))),
      el('td', {}, el('span', { class: `badge outcome-${outcome}` }, outcome)),
      el('td', { class: 'attempt' }, String(r.attempt == null ? 1 : r.attempt)),
      r.error ? el('td', { class: 'run-error' }, String(r.error)) : el('td', { class: 'muted' }, '—'),
      el('td', { class: 'mono' }, r.scheduler_id == null ? '—' : String(r.scheduler_id)));
  }

  // `more`: the next page after the rows shown; else the newest page again.
  async function loadProblems(more) {
    const p = new URLSearchParams({ limit: String(PROBLEMS_PAGE) });
    if (more && problems.before) p.set('before', problems.before);
    const page = await api('GET', `/problems?${p}`);
    const rows = (page && Array.isArray(page.runs) ? page.runs : []).map(problemRow);
    const body = $('problems').tBodies[0];
    if (more) body.append(...rows);
    else {
      if (!rows.length) rows.push(el('tr', { class: 'empty' }, el('td', { colspan: 6 }, 'No problems recorded. 🎉')));
      body.replaceChildren(...rows);
    }
    problems.before = page ? page.next_before || null : null;
    $('problems-more').hidden = !problems.before;
  }

  // ---- Job page ----------------------------------------------------------------------------
  function jobHref(id) {
    return `#/job/${encodeURIComponent(String(id))}`;
  }

  let jobPageJob = null;

  async function loadJobPage(id) {
    const path = `/jobs/${encodeURIComponent(id)}`;
    let job;
    try {
      job = await api('GET', path);
    } catch (e) {
      if (e.status === 404) {
        jobPageJob = null;
        $('job-page-title').textContent = `Job ${id}`;
        $('job-page-error').textContent = e.message;
        $('job-def').replaceChildren();
        $('job-next').replaceChildren();
        return;
      }
      throw e;
    }
    jobPageJob = job;
    $('job-page-error').textContent = '';
    $('job-page-title').textContent = `Job ${job.id}`;
    const paused = job.next_run_time == null;
    $('job-page-toggle').textContent = paused ? 'Resume' : 'Pause';
    const def = [
      ['id', job.id], ['name', job.name], ['func', job.func],
      ['trigger', job.trigger_description || job.trigger], ['timezone', job.timezone],
      ['state', paused ? 'paused' : 'scheduled'],
      ['next run', paused ? '—' : `${fmtLocal(job.next_run_time)} (${job.next_run_time})`],
      ['args', JSON.stringify(job.args || [])], ['kwargs', JSON.stringify(job.kwargs || {})],
      ['tags', (job.tags || []).join(', ') || '—'], ['metadata', JSON.stringify(job.metadata || {})],
      ['max_instances', job.max_instances], ['overlap', job.overlap],
      ['misfire_grace_time', job.misfire_grace_time == null ? 'none' : `${job.misfire_grace_time} s`],
      ['coalesce', job.coalesce], ['timeout', job.timeout == null ? 'none' : `${job.timeout} s`],
      ['retries', job.retries],
      ...(job.retries > 0 ? [['retry_delay', `${job.retry_delay} s`], ['retry_backoff', job.retry_backoff],
        ['retry_max_delay', `${job.retry_max_delay} s`], ['retry_jitter', job.retry_jitter]] : []),
      ['calendars', (job.calendars || []).join(', ') || '—'],
      ['executor', job.executor], ['jobstore', job.jobstore],
    ];
    $('job-def').replaceChildren(...def.flatMap(([k, v]) => [
      el('dt', {}, k), el('dd', { class: 'mono', dataset: { field: k } }, v == null ? '—' : String(v))]));
    const next = await api('GET', `${path}/next?count=10`);
    const times = next && Array.isArray(next.fire_times) ? next.fire_times : [];
    $('job-next').replaceChildren(...(times.length
      ? times.map((t) => el('li', { title: String(t) }, fmtLocal(t)))
      : [el('li', { class: 'muted' }, 'No fire time left.')]));
  }

  async function jobPageAction(action) {
    const job = jobPageJob;
    if (!job) return;
    if (action === 'edit') { openForm('edit', job); return; }
    const path = `/jobs/${encodeURIComponent(job.id)}`;
    try {
      if (action === 'toggle') await api('POST', `${path}/${job.next_run_time == null ? 'resume' : 'pause'}`);
      if (action === 'run') await api('POST', `${path}/run`);
    } catch (e) {
      if (e.status !== 401) showBanner(`${action} ${job.id}: ${e.message}`);
    }
    refreshAll();
  }

  // ---- Views: #/jobs, #/problems, #/job/<id> -------------------------------------------------
  function currentView() {
    const hash = location.hash || '#/jobs';
    if (hash === '#/problems') return { view: 'problems' };
    const m = hash.match(/^#\/job\/(.+)$/);
    if (m) {
      try { return { view: 'job', id: decodeURIComponent(m[1]) }; } catch { return { view: 'jobs' }; }
    }
    return { view: 'jobs' };
  }

  function showView() {
    const { view, id } = currentView();
    $('jobs-section').hidden = view !== 'jobs';
    $('timeline').hidden = view !== 'jobs';
    if (view !== 'jobs') $('quarantine-section').hidden = true;
    $('problems-section').hidden = view !== 'problems';
    $('job-page').hidden = view !== 'job';
    for (const tab of document.querySelectorAll('.views .tab')) {
      if (tab.dataset.view === view) tab.setAttribute('aria-current', 'page');
      else tab.removeAttribute('aria-current');
    }
    if (view === 'job') {
      if ($('history-panel').dataset.jobId !== id || $('history-panel').hidden) openHistory(id);
    } else if (!$('history-panel').hidden) {
      closeHistory();
    }
    refreshAll();
  }

  async function loadTasks() {
    try {
      const tasks = await api('GET', '/tasks');
      $('task-list').replaceChildren(...(Array.isArray(tasks) ? tasks : []).map((t) => el('option', { value: t })));
    } catch (e) {
      if (e.status !== 401) showBanner(`Could not load tasks: ${e.message}`);
    }
  }

  function loadTimeZones() {
    let zones = [];
    try { zones = Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : []; } catch { zones = []; }
    const all = ['UTC', ...zones.filter((z) => z !== 'UTC')];
    $('tz-list').replaceChildren(...all.map((z) => el('option', { value: z })));
  }

  // ---- Live events -------------------------------------------------------------------------
  let source = null;
  let retryTimer = null;

  function setLive(stateName) {
    $('sse-status').dataset.state = stateName;
    $('sse-label').textContent = { open: 'live', connecting: 'connecting', closed: 'offline' }[stateName] || stateName;
  }

  function connectEvents() {
    if (!window.EventSource) { setLive('closed'); return; }
    if (source) source.close();
    clearTimeout(retryTimer);
    setLive('connecting');
    source = new EventSource(`${BASE}/events`);
    source.onopen = () => { // catch up on anything missed
      setLive('open');
      scheduleRefresh();
      if (!$('history-panel').hidden) scheduleHistory();
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        setLive('closed');
        retryTimer = setTimeout(connectEvents, 5000);
      } else {
        setLive('connecting');
      }
    };
    for (const name of EVENT_NAMES) source.addEventListener(name, onEvent);
    source.onmessage = onEvent;
  }

  function onEvent(ev) {
    let data = {};
    try { data = JSON.parse(ev.data) || {}; } catch { data = {}; }
    const name = data.event || ev.type;
    if (name === 'scheduler_paused') sched.paused = true;
    if (name === 'scheduler_resumed') sched.paused = false;
    if (name === 'scheduler_started') { sched.running = true; sched.paused = false; }
    if (name === 'scheduler_shutdown') { sched.running = false; sched.paused = false; }
    renderStatus();
    addActivity(name, data);
    scheduleRefresh(EVENT_REFRESH_MS);
    const panel = $('history-panel');
    if (HISTORY_EVENTS.has(name) && !panel.hidden && data.job_id != null
      && String(data.job_id) === panel.dataset.jobId) scheduleHistory();
  }

  function addActivity(name, data) {
    const list = $('activity');
    list.querySelector('li.empty')?.remove();
    const detail = (data.exception || data.skipped != null) ? String(data.exception || `skipped ${data.skipped}`) : null;
    list.prepend(el('li', { dataset: { event: name }, title: JSON.stringify(data) },
      el('time', {}, FMT_TIME.format(new Date())),
      el('span', { class: 'ev-name' }, name),
      data.job_id != null ? el('span', { class: 'ev-job mono' }, String(data.job_id)) : null,
      detail ? el('span', { class: 'ev-detail' }, detail) : null));
    while (list.children.length > MAX_ACTIVITY) list.lastElementChild.remove();
  }

  // ---- Form: errors ------------------------------------------------------------------------
  function fieldFromMessage(msg) {
    const i = msg.indexOf(': ');
    if (i <= 0) return null;
    let f = msg.slice(0, i).trim();
    if (!/^[A-Za-z_][\w.[\]'"-]*$/.test(f)) return null;
    if (f.startsWith('trigger.')) f = f.slice('trigger.'.length);
    const cut = f.search(/[.[]/);
    if (cut >= 0) f = f.slice(0, cut);
    return f || null;
  }

  function errorSpan(name) {
    return form.querySelector(`.field-error[data-field="${CSS.escape(name)}"]`);
  }

  function setFieldError(name, msg, source) {
    const span = errorSpan(name);
    if (!span || span.closest('[hidden]')) return false;
    span.textContent = msg;
    span.dataset.source = source;
    form.elements.namedItem(name)?.setAttribute('aria-invalid', 'true');
    return true;
  }

  function clearFieldError(name) {
    const span = errorSpan(name);
    if (span) span.textContent = '';
    form.elements.namedItem(name)?.removeAttribute('aria-invalid');
  }

  function clearErrors(source) {
    for (const span of form.querySelectorAll('.field-error')) {
      if (!source || span.dataset.source === source) clearFieldError(span.dataset.field);
    }
    if (!source) $('form-error').textContent = '';
  }

  // Puts an API message next to the field it names; returns whether a field took it.
  function showMessage(msg, source) {
    const field = fieldFromMessage(msg);
    return !!field && setFieldError(field, msg, source);
  }

  // ---- Form: values ------------------------------------------------------------------------
  function readValue(name) {
    const input = form.elements.namedItem(name);
    if (!input) return undefined;
    if (input.type === 'checkbox') return input.checked;
    const v = input.value.trim();
    if (v === '') return undefined;
    if (NUMERIC.has(name)) {
      const n = Number(v);
      return Number.isFinite(n) ? n : v;
    }
    return v;
  }

  function collectTrigger() {
    const type = form.elements.trigger.value;
    const trigger = { type };
    for (const name of [...(TRIGGER_FIELDS[type] || []), ...COMMON_TRIGGER]) {
      const v = readValue(name);
      if (v !== undefined) trigger[name] = v;
    }
    return trigger;
  }

  function collectJob(mode) {
    const body = {};
    const errors = {};
    for (const name of ['id', 'name', 'func']) {
      const v = readValue(name);
      if (v !== undefined) body[name] = v;
    }
    if (mode === 'edit') delete body.id;
    for (const [name, check, what] of [['args', Array.isArray, 'array'],
      ['kwargs', (v) => v !== null && typeof v === 'object' && !Array.isArray(v), 'object']]) {
      const text = form.elements[name].value.trim();
      if (text === '') continue;
      try {
        const v = JSON.parse(text);
        if (check(v)) body[name] = v;
        else errors[name] = `${name}: must be a JSON ${what}`;
      } catch (e) {
        errors[name] = `${name}: invalid JSON (${e.message})`;
      }
    }
    const { type, ...fields } = collectTrigger();
    body.trigger = type;
    Object.assign(body, fields);
    for (const name of ['misfire_grace_time', 'max_instances']) {
      const v = readValue(name);
      if (v !== undefined) body[name] = v;
    }
    body.coalesce = form.elements.coalesce.checked;
    const timeout = readValue('timeout');
    if (timeout !== undefined) body.timeout = timeout;
    else if (mode === 'edit') body.timeout = null; // cleared: no limit
    body.recover = form.elements.recover.checked;
    for (const name of ['retries', 'retry_delay', 'retry_backoff', 'retry_max_delay']) {
      const v = readValue(name);
      if (v !== undefined) body[name] = v;
    }
    body.retry_jitter = form.elements.retry_jitter.checked;
    body.overlap = form.elements.overlap.value;
    const calendars = form.elements.calendars.value.split(',').map((c) => c.trim()).filter((c) => c !== '');
    if (calendars.length > 0 || mode === 'edit') body.calendars = calendars;
    return { body, errors };
  }

  function fillForm(job) {
    for (const input of form.elements) {
      const name = input.name;
      if (!name || !Object.prototype.hasOwnProperty.call(job, name)) continue;
      const v = job[name];
      if (input.type === 'checkbox') input.checked = !!v;
      else if (name === 'args' || name === 'kwargs') input.value = JSON.stringify(v ?? (name === 'args' ? [] : {}));
      else if (name === 'calendars') input.value = Array.isArray(v) ? v.join(', ') : '';
      else if (v == null) input.value = '';
      else input.value = typeof v === 'object' ? JSON.stringify(v) : String(v);
    }
  }

  function updateTriggerVisibility() {
    const type = form.elements.trigger.value;
    for (const group of form.querySelectorAll('[data-triggers]')) {
      group.hidden = !group.dataset.triggers.split(/\s+/).includes(type);
    }
    if (EXPR_PLACEHOLDER[type]) form.elements.expr.placeholder = EXPR_PLACEHOLDER[type];
  }

  // ---- Form: open / close / submit ---------------------------------------------------------
  function resetForm() {
    form.reset(); // restores the HTML defaults: cron, args [], kwargs {}, coalesce checked
    form.elements.id.readOnly = false;
    delete form.dataset.jobId;
    clearErrors();
    $('preview').replaceChildren();
    delete $('preview').dataset.state;
    updateTriggerVisibility();
  }

  // The known calendar names, offered in the form's calendars field.
  async function loadCalendarNames() {
    try {
      const calendars = await api('GET', '/calendars');
      $('calendar-names').replaceChildren(...Object.keys(calendars || {}).map((name) => el('option', { value: name })));
    } catch (e) {
      // The field still takes names typed by hand.
    }
  }

  function openForm(mode, job) {
    resetForm();
    loadCalendarNames();
    form.dataset.mode = mode;
    if (mode === 'edit' && job) {
      fillForm(job);
      form.dataset.jobId = String(job.id);
      form.elements.id.readOnly = true;
    }
    $('form-title').textContent = mode === 'edit' ? `Edit job ${job.id}` : 'New job';
    $('job-submit').textContent = mode === 'edit' ? 'Save changes' : 'Create job';
    updateTriggerVisibility();
    const panel = $('job-form-panel');
    panel.hidden = false;
    panel.scrollIntoView({ block: 'start', behavior: 'smooth' });
    (mode === 'edit' ? form.elements.name : form.elements.id).focus({ preventScroll: true });
    schedulePreview(0);
  }

  function closeForm() {
    $('job-form-panel').hidden = true;
    clearTimeout(previewTimer);
    previewSeq++;
    resetForm();
  }

  async function onSubmit(ev) {
    ev.preventDefault();
    clearErrors();
    const mode = form.dataset.mode === 'edit' ? 'edit' : 'create';
    const { body, errors } = collectJob(mode);
    const names = Object.keys(errors);
    if (names.length) {
      for (const name of names) setFieldError(name, errors[name], 'submit');
      form.elements[names[0]].focus();
      return;
    }
    const button = $('job-submit');
    button.disabled = true;
    try {
      if (mode === 'edit') await api('PATCH', `/jobs/${encodeURIComponent(form.dataset.jobId)}`, body);
      else await api('POST', '/jobs', body);
      closeForm();
      refreshAll();
    } catch (e) {
      if (!showMessage(e.message, 'submit')) $('form-error').textContent = e.message;
      else form.elements.namedItem(fieldFromMessage(e.message))?.focus();
    } finally {
      button.disabled = false;
    }
  }

  // ---- Trigger preview ---------------------------------------------------------------------
  let previewTimer = null;
  let previewSeq = 0;

  function schedulePreview(delay = 250) {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(runPreview, delay);
  }

  async function runPreview() {
    if ($('job-form-panel').hidden) return;
    const seq = ++previewSeq;
    const box = $('preview');
    box.dataset.state = 'loading';
    try {
      // The preview honours the form's exclusion calendars, as the job will.
      const calendars = form.elements.calendars.value.split(',').map((c) => c.trim()).filter((c) => c !== '');
      const r = await api('POST', '/preview', { trigger: collectTrigger(), count: 5, calendars });
      if (seq !== previewSeq) return;
      clearErrors('preview');
      box.dataset.state = 'ok';
      const times = Array.isArray(r && r.fire_times) ? r.fire_times : [];
      box.replaceChildren(
        el('div', { class: 'preview-desc' }, el('span', { class: 'muted' }, 'Preview: '), el('code', {}, String((r && r.description) || ''))),
        r && r.words ? el('div', { class: 'preview-words' }, String(r.words)) : '',
        times.length
          ? el('ol', { class: 'preview-times' }, times.map((t) => el('li', {},
            el('span', {}, fmtLocal(t)), ' ', el('span', { class: 'raw mono' }, String(t)))))
          : el('div', { class: 'muted' }, 'Never fires again.'));
    } catch (e) {
      if (seq !== previewSeq) return;
      clearErrors('preview');
      box.dataset.state = 'error';
      showMessage(e.message, 'preview');
      box.replaceChildren(el('div', { class: 'preview-error' }, e.message));
    }
  }

  // ---- Wiring ------------------------------------------------------------------------------
  function init() {
    $('viewer-tz').textContent = `(${VIEWER_TZ})`;
    $('banner-close').addEventListener('click', () => hideBanner());
    for (const b of document.querySelectorAll('[data-scheduler-action]')) {
      b.addEventListener('click', () => schedulerAction(b.dataset.schedulerAction, b));
    }
    $('refresh').addEventListener('click', refreshAll);
    $('new-job').addEventListener('click', () => openForm('create'));
    $('job-cancel').addEventListener('click', closeForm);
    $('jobs').addEventListener('click', onJobAction);
    $('quarantine').addEventListener('click', onQuarantineAction);
    form.addEventListener('submit', onSubmit);
    form.addEventListener('input', (ev) => {
      const name = ev.target.name;
      if (!name) return;
      clearFieldError(name);
      if (name === 'trigger') updateTriggerVisibility();
      if (PREVIEW_NAMES.has(name)) schedulePreview();
    });
    form.elements.trigger.addEventListener('change', () => { updateTriggerVisibility(); schedulePreview(); });
    $('job-form-panel').addEventListener('keydown', (ev) => { if (ev.key === 'Escape') closeForm(); });
    $('history-close').addEventListener('click', closeHistory);
    $('backfill-form').addEventListener('submit', onBackfill);
    document.addEventListener('keydown', (ev) => {
      // The job form handles its own Escape; elsewhere Escape closes the history panel.
      if (ev.key === 'Escape' && !ev.target.closest?.('#job-form-panel')) closeHistory();
    });
    $('history-panel').querySelector('.history-tz').textContent = `(${VIEWER_TZ})`;
    $('job-page').querySelector('.job-page-tz').textContent = `(${VIEWER_TZ})`;
    $('job-search').addEventListener('input', scheduleFilters);
    $('job-tag').addEventListener('input', scheduleFilters);
    $('job-state').addEventListener('change', setFilters);
    $('page-prev').addEventListener('click', () => turnPage(-1));
    $('page-next').addEventListener('click', () => turnPage(1));
    for (const b of document.querySelectorAll('#summary [data-filter-state]')) {
      b.addEventListener('click', () => {
        const state = b.dataset.filterState;
        $('job-state').value = $('job-state').value === state ? '' : state;
        if (currentView().view !== 'jobs') location.hash = '#/jobs';
        setFilters();
      });
    }
    $('problems-more').addEventListener('click', () => loadProblems(true).catch(reportRefreshError));
    $('job-page-edit').addEventListener('click', () => jobPageAction('edit'));
    $('job-page-toggle').addEventListener('click', () => jobPageAction('toggle'));
    $('job-page-run').addEventListener('click', () => jobPageAction('run'));
    $('job-page-back').addEventListener('click', () => { location.hash = '#/jobs'; });
    window.addEventListener('hashchange', showView);

    renderStatus();
    loadTimeZones();
    loadTasks();
    showView();
    connectEvents();
    setInterval(refreshAll, 30000); // fallback poll; also re-renders the timeline
  }

  init();
})();

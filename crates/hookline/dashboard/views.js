// The dashboard's pages. Each view renders into `root` and returns a
// function that stops whatever it keeps running (streams, timers).

import { api, qs, streamEvents, ApiError } from './api.js';
import { h, clear, put, ago, when, badge, copyButton, breakable } from './dom.js';
import { lineChart, barChart } from './charts.js';

/** "in 4 min" for a time ahead, "due now" once it has passed. */
function fromNow(iso) {
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  if (!(s > 0)) return 'due now';
  if (s < 60) return `in ${s} s`;
  if (s < 3600) return `in ${Math.round(s / 60)} min`;
  return `in ${Math.round(s / 3600)} h`;
}

const FINAL = new Set(['delivered', 'failed', 'rejected']);
const STATUSES = ['received', 'delivering', 'delivered', 'failed', 'rejected', 'held'];
const FILTERS = ['product', 'access_tag', 'webhook', 'event', 'env', 'status', 'registration', 'since', 'until'];

function errorBox(e) {
  const msg = e instanceof ApiError ? `${e.message} (${e.code})` : String(e && e.message ? e.message : e);
  return h('p.error', { role: 'alert' }, msg);
}

function loading() {
  return h('p.muted', 'Loading…');
}

function healthBadge(hl) {
  if (!hl) return null;
  const b = h('span.badge', { class: hl.healthy ? 'st-delivered' : 'st-failed', dataset: { health: hl.status } }, hl.status);
  if (hl.reasons && hl.reasons.length) b.title = hl.reasons.join('\n');
  return b;
}

// --- overview: products → envs → registrations ------------------------------

export async function overview(root) {
  root.append(h('h1', 'Products'), loading());
  const products = await api('/products');
  clear(root).append(h('h1', 'Products'));
  if (!products.length) {
    root.append(
      h('p.muted', 'No products yet. Create one with the API (see the README), then connect an app and generate a link.'),
    );
    return;
  }
  for (const p of products) {
    const card = h('section.card.product', { dataset: { product: p.tag } }, h('h2', p.name, ' ', h('code.tag', p.tag)), loading());
    root.append(card);
    fillProduct(card, p).catch((e) => card.append(errorBox(e)));
  }
}

async function fillProduct(card, p) {
  const [regs, health] = await Promise.all([
    api('/registrations' + qs({ product: p.tag })),
    api('/health/registrations' + qs({ product: p.tag })),
  ]);
  const byId = new Map(health.map((x) => [x.registration_id, x]));
  card.querySelector('p.muted')?.remove();
  const envs = p.envs.map((e) => e.slug);
  for (const r of regs) if (!envs.includes(r.env)) envs.push(r.env);
  for (const env of envs) {
    const mine = regs.filter((r) => r.env === env);
    const envName = p.envs.find((e) => e.slug === env)?.name;
    const section = h(
      'div.env',
      h('h3', h('span.env-slug', env), envName ? h('span.muted', ' ', envName) : null,
        h('a.small', { href: '#/events' + qs({ product: p.tag, env }) }, 'events')),
    );
    if (!mine.length) section.append(h('p.muted.small', 'No registrations in this env.'));
    else section.append(h('div.regs', mine.map((r) => registrationRow(r, byId.get(r.id)))));
    card.append(section);
  }
}

function registrationRow(r, hl) {
  const what = r.event ? `${r.webhook} · ${r.event}` : r.webhook;
  return h(
    'article.reg',
    { dataset: { testid: 'registration', id: r.id } },
    h('div.reg-head',
      h('a.reg-name', { href: '#/registrations/' + r.id }, what),
      h('span.muted', ` ${r.app} as ${r.access_tag}`),
      r.active ? null : h('span.badge.st-held', 'retired'),
      healthBadge(hl)),
    h('div.kv',
      h('span.k', 'Link'),
      h('span.v.link', h('code.wrap', r.link), copyButton(r.link))),
    h('div.kv',
      h('span.k', 'Receiver'),
      h('span.v', r.receiver ? h('code.wrap', `${r.receiver.method} ${r.receiver.url}`) : h('span.muted', 'none yet: events are held'))),
    h('div.reg-actions',
      h('a.button.small', { href: '#/events' + qs({ registration: r.id }) }, 'Events'),
      h('a.button.small.ghost', { href: '#/registrations/' + r.id }, 'Charts')),
  );
}

// --- events: filters, live list, bulk replay ---------------------------------

function eventRow(e) {
  return h(
    'tr.event',
    { dataset: { id: e.id, testid: 'event-row', status: e.status } },
    h('td.when', { title: when(e.received_at), dataset: { at: e.received_at } }, ago(e.received_at)),
    h('td', badge(e.status)),
    h('td.name', h('a', { href: '#/events/' + e.id }, e.event ? breakable(e.event) : h('span.muted', '(no name)'))),
    h('td.hide-sm', `${e.product} / ${e.access_tag} / ${e.webhook}`),
    h('td.hide-sm', e.env),
    h('td.num', { dataset: { testid: 'attempts' } }, e.attempts),
    h('td.hide-sm', e.last_response_status ?? ''),
    h('td.id.hide-md', h('code', e.id)),
  );
}

function filterForm(filters, onApply) {
  const field = (name, label, input) => h('label', h('span', label), input);
  const text = (name, placeholder) => h('input', { name, value: filters[name] || '', placeholder, autocomplete: 'off' });
  const status = h('select', { name: 'status' }, h('option', { value: '' }, 'any'),
    STATUSES.map((st) => h('option', { value: st, selected: filters.status === st }, st)));
  const local = (iso) => (iso ? new Date(Date.parse(iso) - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 16) : '');
  const since = h('input', { name: 'since', type: 'datetime-local', value: local(filters.since) });
  const until = h('input', { name: 'until', type: 'datetime-local', value: local(filters.until) });
  const form = h(
    'form.filters',
    field('product', 'Product', text('product', 'tag')),
    field('access_tag', 'Access tag', text('access_tag')),
    field('webhook', 'Webhook', text('webhook')),
    field('event', 'Event', text('event', 'e.g. order.created')),
    field('env', 'Env', text('env')),
    field('status', 'Status', status),
    field('registration', 'Registration', text('registration', 'reg_…')),
    field('since', 'Since', since),
    field('until', 'Until', until),
    h('div.filter-actions', h('button', { type: 'submit' }, 'Apply'), h('a.button.ghost', { href: '#/events' }, 'Clear')),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    for (const k of ['since', 'until']) if (data[k]) data[k] = new Date(data[k]).toISOString();
    onApply(data);
  });
  return form;
}

export async function events(root, params) {
  const filters = Object.fromEntries(FILTERS.filter((k) => params.get(k)).map((k) => [k, params.get(k)]));
  const live = h('span.live', { dataset: { testid: 'live' } }, 'connecting…');
  const replayBtn = h('button.ghost', { type: 'button', dataset: { testid: 'bulk-replay' } }, 'Replay matching…');
  const details = h('details.filter-box', { open: Object.keys(filters).length > 0 }, h('summary', 'Filters'),
    filterForm(filters, (f) => (location.hash = '#/events' + qs(f))));
  const tbody = h('tbody');
  const table = h('table.events', h('thead', h('tr',
    h('th', 'Received'), h('th', 'Status'), h('th', 'Event'), h('th.hide-sm', 'Product / access / webhook'),
    h('th.hide-sm', 'Env'), h('th.num', 'Tries'), h('th.hide-sm', 'Last'), h('th.hide-md', 'Id'))), tbody);
  const more = h('button.ghost', { type: 'button', hidden: true }, 'Load more');
  const empty = h('p.muted', { hidden: true }, 'No events match. New ones appear here as they arrive.');
  const replayPanel = h('div');
  root.append(
    h('div.page-head', h('h1', 'Events'), live, h('span.grow'), replayBtn),
    details,
    replayPanel,
    h('div.table-wrap', table),
    empty,
    more,
  );

  const rows = new Map();
  let cursor = null;
  function upsert(e, fresh) {
    const row = eventRow(e);
    const old = rows.get(e.id);
    rows.set(e.id, row);
    if (old) old.replaceWith(row);
    else {
      // Newest first: place by id (ids sort by arrival).
      const after = [...tbody.children].find((r) => r.dataset.id < e.id);
      tbody.insertBefore(row, after || null);
    }
    if (fresh) {
      row.classList.add('flash');
      setTimeout(() => row.classList.remove('flash'), 1500);
    }
    empty.hidden = rows.size > 0;
  }

  async function loadPage() {
    const page = await api('/events' + qs({ ...filters, limit: 50, cursor }));
    page.data.forEach((e) => upsert(e, false));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    empty.hidden = rows.size > 0;
    return page;
  }
  more.addEventListener('click', () => loadPage().catch((e) => root.append(errorBox(e))));

  const first = await loadPage();
  const stop = streamEvents(
    { ...filters, after: first.data[0]?.id },
    {
      onEvent: (e) => upsert(e, true),
      onState: (st) => {
        live.textContent = st === 'live' ? 'live' : 'reconnecting…';
        live.classList.toggle('on', st === 'live');
      },
    },
  );
  const ticker = setInterval(() => {
    for (const row of rows.values()) {
      const cell = row.querySelector('td.when');
      if (cell) cell.textContent = ago(cell.dataset.at);
    }
  }, 15000);

  replayBtn.addEventListener('click', () => bulkReplay(replayPanel, filters));
  return () => {
    stop();
    clearInterval(ticker);
  };
}

async function bulkReplay(panel, filters) {
  clear(panel);
  const body = { ...filters };
  const box = h('section.card.replay', { dataset: { testid: 'replay-dialog' } }, h('h2', 'Bulk replay'), loading());
  panel.append(box);
  let preview;
  try {
    preview = await api('/replays/preview', { method: 'POST', body });
  } catch (e) {
    clear(box).append(h('h2', 'Bulk replay'), errorBox(e));
    return;
  }
  const described = Object.entries(filters).map(([k, v]) => `${k} = ${v}`).join(', ') || 'no filter: every event';
  const rate = h('input', { type: 'number', min: 1, name: 'rate', placeholder: 'server default', inputmode: 'numeric' });
  const confirmBtn = h('button.danger', { type: 'button', dataset: { testid: 'confirm-replay' } }, `Replay ${preview.matching} events`);
  const cancel = h('button.ghost', { type: 'button' }, 'Cancel');
  clear(box).append(
    h('h2', 'Bulk replay'),
    h('p', 'Matching ', h('strong', { dataset: { testid: 'replay-matching' } }, preview.matching), ' events (', described, '). ',
      'Delivered, failed and waiting events are queued again, oldest first; the rest are skipped.'),
    h('label.inline', h('span', 'Events per second'), rate),
    h('div.actions', confirmBtn, cancel),
  );
  cancel.addEventListener('click', () => clear(panel));
  if (!preview.matching) confirmBtn.disabled = true;
  confirmBtn.addEventListener('click', async () => {
    confirmBtn.disabled = true;
    try {
      const job = await api('/replays', { method: 'POST', body: { ...body, rate: rate.value ? Number(rate.value) : undefined } });
      clear(box).append(h('h2', 'Bulk replay'), replayProgress(job));
    } catch (e) {
      box.append(errorBox(e));
      confirmBtn.disabled = false;
    }
  });
}

/** A progress block that follows a job until it finishes. */
function replayProgress(job) {
  const bar = h('progress', { max: 1, value: job.progress });
  const text = h('span.small');
  const stopBtn = h('button.ghost.small', { type: 'button' }, 'Stop');
  const block = h('div.progress', { dataset: { testid: 'replay-progress', job: job.id } }, bar, text, stopBtn);
  let timer = null;
  function show(j) {
    bar.value = j.progress;
    block.dataset.status = j.status;
    text.textContent = `${j.status}: ${j.replayed} replayed, ${j.skipped} skipped of ${j.total} (${Math.round(j.progress * 100)} %)`;
    stopBtn.hidden = j.status !== 'running';
    if (j.status !== 'running' && timer) {
      clearInterval(timer);
      timer = null;
    }
  }
  show(job);
  stopBtn.addEventListener('click', async () => show(await api(`/replays/${job.id}/cancel`, { method: 'POST' })));
  if (job.status === 'running') {
    timer = setInterval(async () => {
      if (!block.isConnected) return clearInterval(timer);
      try {
        show(await api('/replays/' + job.id));
      } catch {
        /* keep trying */
      }
    }, 1000);
  }
  return block;
}

// --- one event ----------------------------------------------------------------

function prettyBody(req) {
  if (req.body_base64) {
    return h('div', h('p.muted.small', `Binary body, ${req.body_size} bytes (base64):`), h('pre.body', req.body_base64));
  }
  const raw = req.body ?? '';
  if (!raw) return h('p.muted', 'Empty body.');
  try {
    return h('pre.body.json', { dataset: { testid: 'body' } }, JSON.stringify(JSON.parse(raw), null, 2));
  } catch {
    return h('pre.body', { dataset: { testid: 'body' } }, raw);
  }
}

function kv(rows) {
  return h('dl.grid', rows.filter(Boolean).map(([k, v]) => [h('dt', k), h('dd', v ?? h('span.muted', '—'))]));
}

export async function eventDetail(root, params, id) {
  root.append(loading());
  let timer = null;
  let seenAttempts = -1;
  // Outlives re-renders, so "Queued again." stays while the attempt runs.
  const msg = h('span.small', { dataset: { testid: 'replay-message' } });
  const poll = () => {
    if (timer) return;
    timer = setInterval(refresh, 1000);
  };
  async function refresh() {
    try {
      const e = await api('/events/' + encodeURIComponent(id));
      render(e);
      if (FINAL.has(e.status) && e.attempts === seenAttempts && timer) {
        clearInterval(timer);
        timer = null;
      }
      seenAttempts = e.attempts;
    } catch (e) {
      clear(root).append(errorBox(e));
      clearInterval(timer);
    }
  }

  function render(e) {
    const replay = h('button', { type: 'button', dataset: { testid: 'replay' } }, 'Replay');
    replay.addEventListener('click', async () => {
      replay.disabled = true;
      try {
        await api(`/events/${e.id}/replay`, { method: 'POST' });
        msg.textContent = 'Queued again.';
        seenAttempts = -1;
        poll();
      } catch (err) {
        msg.replaceChildren(errorBox(err));
        replay.disabled = false;
      }
    });
    const v = e.verification;
    const verification = v
      ? h('div',
          h('p', h('span.badge', { class: v.ok ? 'st-delivered' : 'st-rejected', dataset: { testid: 'verification' } }, v.ok ? 'verified' : 'failed'),
            ' ', h('code', v.scheme)),
          v.ok ? null : h('p', h('code', v.code || ''), ' ', v.message || ''))
      : h('p.muted', 'No signature check is configured for this webhook.');
    const attempts = e.attempt_log.length
      ? h('div.table-wrap', h('table.attempts', h('thead', h('tr', h('th', '#'), h('th', 'Started'), h('th.num', 'ms'), h('th', 'Answer'), h('th', 'Error'), h('th.hide-sm', 'URL'))),
          h('tbody', e.attempt_log.map((a) => h('tr', { dataset: { testid: 'attempt' } },
            h('td', a.number),
            h('td', { title: when(a.started_at) }, ago(a.started_at)),
            h('td.num', a.duration_ms),
            h('td', a.response_status ?? '—', a.response_excerpt ? h('details', h('summary.small', 'body'), h('pre.excerpt', a.response_excerpt)) : null),
            h('td', a.error_kind ? h('span', h('code', a.error_kind), ' ', a.error) : ''),
            h('td.hide-sm', h('code.wrap', a.request_url)),
          )))))
      : h('p.muted', 'No attempt yet.');
    const deliveries = (e.deliveries || []).length
      ? h('div.table-wrap', h('table.deliveries', h('thead', h('tr', h('th', 'Destination'), h('th', 'Status'), h('th.num', 'Attempts'), h('th', 'Next attempt'))),
          h('tbody', e.deliveries.map((d) => h('tr', { dataset: { testid: 'delivery' } },
            h('td', h('code.wrap', d.destination_id)),
            h('td', badge(d.status), d.status === 'pending' && d.attempts.length && d.next_attempt_at
              ? h('span.small', { dataset: { testid: 'retrying' } }, ' retrying ' + fromNow(d.next_attempt_at)) : null),
            h('td.num', d.attempts.length),
            h('td', d.next_attempt_at ? h('span', { title: when(d.next_attempt_at) }, fromNow(d.next_attempt_at)) : '—'),
          )))))
      : h('p.muted', e.status === 'rejected' ? 'Rejected events are never delivered.' : 'No delivery.');
    clear(root).append(
      h('div.page-head', h('h1', e.event || 'Event'), badge(e.status), h('span.grow'), msg, replay),
      h('p', h('code.wrap', e.id)),
      h('section.card', kv([
        ['Product', e.product], ['Access tag', e.access_tag], ['Webhook', e.webhook], ['Env', e.env],
        ['Registration', h('a', { href: '#/registrations/' + e.registration_id }, e.registration_id)],
        ['Received', when(e.received_at)], ['Delivered', e.delivered_at ? when(e.delivered_at) : null],
        ['Attempts', h('span', { dataset: { testid: 'attempt-count' } }, e.attempts)],
        ['Next attempt', e.next_attempt_at ? when(e.next_attempt_at) : null],
        ['Last answer', e.last_response_status], ['Last error', e.last_error],
        ['Provider event id', e.provider_event_id],
      ])),
      h('section.card', h('h2', 'Verification'), verification),
      h('section.card', h('h2', 'Request'),
        h('p', h('code', e.request.method), e.request.query ? h('code.wrap', ' ?' + e.request.query) : null),
        h('details', { open: true }, h('summary', `Headers (${e.request.headers.length})`),
          h('div.table-wrap', h('table.headers', h('tbody', e.request.headers.map(([k, v]) => h('tr', h('th', k), h('td', h('code.wrap', v)))))))),
        h('h3', 'Body'), prettyBody(e.request)),
      h('section.card', h('h2', 'Deliveries'), deliveries),
      h('section.card', h('h2', 'Attempts'), attempts),
    );
  }

  await refresh();
  poll();
  return () => clearInterval(timer);
}

// --- one registration: charts -------------------------------------------------

const WINDOWS = { '1h': [60, 60], '6h': [360, 300], '24h': [1440, 900] };

export async function registration(root, params, id) {
  root.append(loading());
  const win = WINDOWS[params.get('window')] ? params.get('window') : '1h';
  const [r, hl] = await Promise.all([api('/registrations/' + encodeURIComponent(id)), api('/health/registrations/' + encodeURIComponent(id))]);
  const charts = h('div.charts', loading());
  put(clear(root),
    h('div.page-head', h('h1', r.event ? `${r.webhook} · ${r.event}` : r.webhook), healthBadge(hl), h('span.grow'),
      h('a.button', { href: '#/events' + qs({ registration: r.id }) }, 'Events')),
    h('p.muted', `${r.product} / ${r.access_tag} (${r.app}) / ${r.env}`),
    hl.healthy ? null : h('div.error', { role: 'status' }, h('strong', 'Unhealthy: '), hl.reasons.join('; ')),
    h('section.card', kv([
      ['Link', h('span', h('code.wrap', r.link), ' ', copyButton(r.link))],
      ['Receiver', r.receiver ? h('code.wrap', `${r.receiver.method} ${r.receiver.url}`) : 'none (events are held)'],
      ['State', r.active ? 'active' : 'retired'],
      ['Health checked', hl.checked_at ? when(hl.checked_at) : 'not yet'],
    ])),
    h('div.tabs', Object.keys(WINDOWS).map((w) => h('a', { href: `#/registrations/${id}?window=${w}`, class: w === win ? 'on' : '' }, w))),
    charts,
  );

  async function draw() {
    const [minutes, bucket] = WINDOWS[win];
    const st = await api('/stats' + qs({ registration: id, minutes, bucket }));
    const times = st.buckets.map((b) => new Date(Date.parse(b.start)));
    const rate = st.buckets.map((b) => (b.delivered + b.failed ? (100 * b.delivered) / (b.delivered + b.failed) : null));
    const per = bucket === 60 ? 'per minute' : `per ${bucket / 60} minutes`;
    const lat = st.latency_ms;
    // One chart per row on small screens, two side by side from 1000 px (style.css).
    const cols = matchMedia('(min-width: 1000px)').matches ? 2 : 1;
    const width = Math.max(280, Math.floor((charts.clientWidth - (cols - 1) * 16) / cols) - 24);
    const ms = (v) => (v >= 10000 ? (v / 1000).toFixed(0) + ' s' : v >= 1000 ? (v / 1000).toFixed(1) + ' s' : v + ' ms');
    clear(charts).append(
      h('div.totals',
        total('Received', st.received), total('Delivered', st.delivered), total('Failed attempts', st.failed),
        total('Rejected', st.rejected),
        total('Success rate', st.success_rate === null ? '—' : (st.success_rate * 100).toFixed(1) + ' %'),
        total('Latency p50', lat ? ms(lat.p50) : '—')),
      lineChart([
        { name: 'received', cls: 's-received', values: st.buckets.map((b) => b.received) },
        { name: 'delivered', cls: 's-delivered', values: st.buckets.map((b) => b.delivered) },
        { name: 'failed attempts', cls: 's-failed', values: st.buckets.map((b) => b.failed) },
      ], times, { title: `Events ${per}`, format: (v) => String(Math.round(v)), width, whole: true }),
      lineChart([{ name: 'success rate', cls: 's-delivered', values: rate }], times, {
        title: `Delivery success rate ${per}`, max: 100, format: (v) => Math.round(v) + ' %', width,
      }),
      lat
        ? barChart([
            { label: 'p50', value: lat.p50, cls: 's-delivered' },
            { label: 'p90', value: lat.p90, cls: 's-delivered' },
            { label: 'p99', value: lat.p99, cls: 's-received' },
            { label: 'max', value: lat.max, cls: 's-failed' },
          ], { title: `Delivery latency, receipt to acknowledgement (${lat.count} deliveries)`, format: ms, width })
        : h('figure.chart-box', h('figcaption', 'Delivery latency'), h('p.muted', 'No delivery in this window.')),
    );
  }
  function total(label, value) {
    return h('div.total', h('span.k', label), h('strong', value));
  }
  await draw();
  const timer = setInterval(() => draw().catch(() => {}), 30000);
  return () => clearInterval(timer);
}

// --- bulk replays -------------------------------------------------------------

export async function replays(root) {
  root.append(h('h1', 'Bulk replays'), loading());
  const list = h('div');
  async function draw() {
    const jobs = await api('/replays');
    clear(list);
    if (!jobs.length) list.append(h('p.muted', 'No bulk replay yet. Start one from the Events page ("Replay matching…").'));
    for (const j of jobs) {
      const f = Object.entries(j.filter).filter(([, v]) => v).map(([k, v]) => `${k} = ${v}`).join(', ');
      list.append(h('section.card', h('div.page-head', h('h3', h('code', j.id)), h('span.muted.small', ago(j.created_at))),
        h('p.small', f || 'no filter', ` · ${j.rate}/s`), replayProgress(j)));
    }
    return jobs.some((j) => j.status === 'running');
  }
  await draw();
  clear(root).append(h('h1', 'Bulk replays'), list);
  const timer = setInterval(() => draw().catch(() => {}), 5000);
  return () => clearInterval(timer);
}

// Entry point: sign-in, navigation, and a hash router over the views.

import { api, key, ApiError } from './api.js';
import { h, clear } from './dom.js';
import * as views from './views.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
let stopView = null;

function route() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query] = raw.split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'events' && parts[1]) return ['events', () => views.eventDetail(main, params, parts[1])];
  if (parts[0] === 'events') return ['events', () => views.events(main, params)];
  if (parts[0] === 'registrations' && parts[1]) return ['overview', () => views.registration(main, params, parts[1])];
  if (parts[0] === 'replays') return ['replays', () => views.replays(main, params)];
  return ['overview', () => views.overview(main, params)];
}

async function show() {
  if (stopView) stopView();
  stopView = null;
  if (!key.get()) return signIn();
  document.body.classList.add('signed-in');
  const [section, render] = route();
  for (const a of nav.querySelectorAll('a[data-section]')) a.classList.toggle('on', a.dataset.section === section);
  clear(main);
  try {
    const stop = await render();
    stopView = typeof stop === 'function' ? stop : null;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return;
    main.append(h('p.error', { role: 'alert' }, e.message || String(e)));
  }
  refreshUnhealthy();
}

async function refreshUnhealthy() {
  const dot = document.getElementById('unhealthy');
  try {
    const bad = await api('/health/registrations?unhealthy=true');
    dot.hidden = bad.length === 0;
    dot.textContent = `${bad.length} unhealthy`;
    dot.title = 'Registrations crossing a failure-rate or backlog threshold';
  } catch {
    dot.hidden = true;
  }
}

function signIn(message) {
  document.body.classList.remove('signed-in');
  const input = h('input', { type: 'password', name: 'key', autocomplete: 'current-password', required: true, placeholder: 'hk_…', autofocus: true });
  const error = h('p.error', { role: 'alert', hidden: !message }, message || '');
  const form = h('form.card.signin', { dataset: { testid: 'signin' } },
    h('h1', 'Sign in'),
    h('p.muted', 'Use a management key. It stays in this browser tab only and is forgotten when the tab closes.'),
    h('label', h('span', 'Management key'), input),
    error,
    h('button', { type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const candidate = input.value.trim();
    try {
      await api('/products', { auth: candidate });
      key.set(candidate);
      show();
    } catch (e) {
      error.hidden = false;
      error.textContent = e instanceof ApiError && e.status === 401 ? 'This key is not valid.' : e.message;
    }
  });
  clear(main).append(form);
  input.focus();
}

window.addEventListener('hookline:unauthorized', () => {
  if (!key.get()) return;
  key.clear();
  if (stopView) stopView();
  stopView = null;
  signIn('Your key was refused; sign in again.');
});
document.getElementById('signout').addEventListener('click', () => {
  key.clear();
  if (stopView) stopView();
  stopView = null;
  signIn();
});
window.addEventListener('hashchange', show);
show();

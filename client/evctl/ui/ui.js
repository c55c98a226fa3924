/*
 * evctl ui's page. Everything shown comes from other users' input
 * (payloads, commands, channel names), so the DOM is built with
 * createElement and textContent only, never innerHTML; the page fetches
 * nothing but its own origin's /api/ (the server's CSP says so too).
 * Polls every 2 s; the countdowns tick every second in between.
 *
 * The token comes in the URL's fragment (#token=..., never sent to a
 * server), is kept in sessionStorage (this origin, port included, and
 * this tab only), removed from the address bar, and sent as the
 * X-Evd-Token header on every request: no cookie, which the browser
 * would hand to every port of the host.
 */
'use strict';

const POLL_MS = 2000;
const DAY_MS = 24 * 3600 * 1000;
const TOKEN_KEY = 'evd_token';
const NO_TOKEN = 'no token: open the URL evctl ui printed';
let clockSkew = 0; /* server's now - ours, from /api/timers */

function readToken() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token') || '';
  let t = fromHash;
  try {
    if (fromHash !== '') sessionStorage.setItem(TOKEN_KEY, fromHash);
    else t = sessionStorage.getItem(TOKEN_KEY) || '';
  } catch (e) { /* no storage: the token lives until a reload */ }
  if (location.hash !== '')
    history.replaceState(null, '', location.pathname + location.search);
  return t;
}
const token = readToken();

function el(tag, props, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k === 'title') e.title = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else if (k === 'onclick') e.addEventListener('click', v);
    else e.setAttribute(k, v);
  }
  for (const c of kids) {
    if (c === null || c === undefined) continue;
    e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return e;
}

const SVG = 'http://www.w3.org/2000/svg';
function sv(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

async function api(path, method) {
  const r = await fetch(path, {
    method: method || 'GET',
    headers: {'X-Evd-Token': token},
    credentials: 'omit',
    cache: 'no-store',
  });
  let body = null;
  try { body = await r.json(); } catch (e) { /* not JSON */ }
  if (r.status === 403 && body && /token/.test(body.error || ''))
    throw new Error(NO_TOKEN + ' (this one is refused)');
  if (!r.ok) throw new Error((body && body.error) || (r.status + ' ' + r.statusText));
  return body;
}

function now() { return Date.now() + clockSkew; }

function fmtTime(ms) {
  if (ms === null || ms === undefined) return '–';
  const d = new Date(ms);
  return d.toLocaleString(undefined, {weekday: 'short', year: 'numeric',
    month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    second: '2-digit', timeZoneName: 'short'});
}

function fmtLeft(ms) {
  if (ms === null || ms === undefined) return '';
  let s = Math.round((ms - now()) / 1000);
  const neg = s < 0;
  s = Math.abs(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600),
        m = Math.floor(s % 3600 / 60), sec = s % 60;
  let t = d > 0 ? d + 'd ' + h + 'h' : h > 0 ? h + 'h ' + m + 'm'
        : m > 0 ? m + 'm ' + sec + 's' : sec + 's';
  return neg ? t + ' ago' : t;
}

function fmtUs(us) {
  if (us < 1000) return us + ' µs';
  if (us < 1e6) return (us / 1000).toFixed(1) + ' ms';
  return (us / 1e6).toFixed(2) + ' s';
}

function fmtDur(ms) {
  if (!ms) return '';
  return ms < 1000 ? ms + ' ms' : (ms / 1000).toFixed(1) + ' s';
}

function setStatus(text, bad) {
  const s = document.getElementById('status');
  s.textContent = text;
  s.className = bad ? 'error' : '';
}

async function act(path) {
  try {
    await api(path, 'POST');
    setStatus('done: ' + path.split('/').slice(-1)[0], false);
  } catch (e) {
    setStatus('refused: ' + e.message, true);
  }
  poll();
}

function actions(t) {
  const b = (name, cls) => el('button', {class: cls || '', 'data-action': name,
    onclick: () => act('/api/timers/' + t.id + '/' + name)}, name);
  const td = el('td', {class: 'actions'});
  if (t.state === 'pending') {
    td.append(b('trigger'), b('pause'), b('cancel', 'danger'));
  } else if (t.state === 'paused') {
    td.append(b('resume'), b('cancel', 'danger'));
  }
  if (t.kind === 'exec' && (t.state === 'fired' || t.state === 'cancelled' ||
                            (t.runs.length && t.runs[0].failed)))
    td.append(b('retry'));
  return td;
}

function lastRun(t) {
  if (!t.runs.length) return el('td', {class: 'muted', text: t.state === 'cancelled' ? 'cancelled' : '–'});
  const r = t.runs[0];
  return el('td', {class: r.failed ? 'bad' : (r.result === 'ok' ? 'ok' : ''),
                   title: fmtTime(r.fired_ms || r.due_ms), text: r.result});
}

function order(a, b) {
  const live = t => t.next_ms !== null;
  if (live(a) !== live(b)) return live(a) ? -1 : 1;
  if (live(a)) return a.next_ms - b.next_ms || a.id - b.id;
  return (b.last_fired_ms || 0) - (a.last_fired_ms || 0) || a.id - b.id;
}

function renderTimers(data) {
  const tb = document.querySelector('#timers tbody');
  const rows = data.timers.slice().sort(order).map(t => {
    const what = t.kind === 'channel' && t.payload !== null && t.payload !== ''
      ? [el('div', {text: t.what}), el('div', {class: 'muted', text: 'payload: ' + t.payload})]
      : [el('div', {text: t.what})];
    return el('tr', {'data-timer-id': String(t.id), 'data-owner': t.owner,
                     class: t.runs.length && t.runs[0].failed ? 'failed' : ''},
      el('td', {class: 'num', text: String(t.id)}),
      el('td', {text: t.state === 'pending' || t.state === 'paused' ? fmtTime(t.next_ms) : '–'}),
      el('td', {class: 'left', 'data-next': t.next_ms === null ? '' : String(t.next_ms),
                text: t.state === 'pending' ? fmtLeft(t.next_ms) : ''}),
      el('td', {text: t.repeat || ''}),
      el('td', {class: 'what'}, ...what),
      el('td', {text: t.owner}),
      el('td', {text: t.state}),
      lastRun(t),
      actions(t));
  });
  tb.replaceChildren(...rows);
  if (!rows.length)
    tb.append(el('tr', {}, el('td', {colspan: '9', class: 'muted', text: 'no timers'})));
  if (data.truncated)
    tb.append(el('tr', {}, el('td', {colspan: '9', class: 'muted',
      text: 'only the first ' + data.timers.length + ' timers are shown'})));
}

function renderTimeline(data) {
  const box = document.getElementById('timeline');
  const t0 = now(), W = 1100, left = 220, right = 30;
  const lanes = data.timers.filter(t => t.upcoming_ms.length)
    .sort(order).slice(0, 20);
  const H = 26 + Math.max(lanes.length, 1) * 20;
  const x = ms => left + (ms - t0) / DAY_MS * (W - left - right);
  const svg = sv('svg', {viewBox: '0 0 ' + W + ' ' + H, width: '100%',
                         role: 'img', 'aria-label': 'fires of the next 24 hours'});
  for (let h = 0; h <= 24; h += 3) {
    const xx = x(t0 + h * 3600000);
    svg.append(sv('line', {x1: xx, x2: xx, y1: 14, y2: H, class: 'tick'}));
    const d = new Date(t0 + h * 3600000);
    svg.append(sv('text', {x: xx, y: 11, 'text-anchor': 'middle'},
      h === 0 ? 'now' : d.toLocaleTimeString(undefined, {hour: '2-digit', minute: '2-digit'})));
  }
  lanes.forEach((t, i) => {
    const y = 30 + i * 20;
    const label = '#' + t.id + ' ' + t.what;
    svg.append(sv('text', {x: 4, y: y + 4, class: 'label'},
      label.length > 32 ? label.slice(0, 31) + '…' : label));
    for (const ms of t.upcoming_ms) {
      const c = sv('circle', {cx: x(ms), cy: y, r: 4, class: 'fire ' + t.kind});
      c.append(sv('title', {}, '#' + t.id + ' at ' + fmtTime(ms)));
      svg.append(c);
    }
  });
  if (!lanes.length)
    svg.append(sv('text', {x: 4, y: 34}, 'nothing fires in the next 24 hours'));
  box.replaceChildren(svg);
}

function tail(label, text, cls) {
  if (text === null || text === '') return null;
  return el('details', {open: cls === 'stderr' ? '' : null},
    el('summary', {text: label}), el('pre', {class: cls, text: text}));
}

function renderRuns(data) {
  const tb = document.querySelector('#runs tbody');
  const rows = data.runs.slice()
    .sort((a, b) => (b.run.fired_ms || b.run.due_ms || 0) - (a.run.fired_ms || a.run.due_ms || 0))
    .map(x => {
      const r = x.run;
      const out = el('td', {class: 'out'});
      for (const n of [tail('stdout', r.stdout, 'stdout'), tail('stderr', r.stderr, 'stderr')])
        if (n) out.append(n);
      if (r.detail) out.append(el('div', {class: 'muted', text: r.detail}));
      return el('tr', {class: r.failed ? 'failed' : '', 'data-timer-id': String(x.timer_id),
                       'data-result': r.result},
        el('td', {text: fmtTime(r.fired_ms || r.due_ms)}),
        el('td', {class: 'num', text: String(x.timer_id)}),
        el('td', {class: 'what', text: x.what}),
        el('td', {class: r.failed ? 'bad' : (r.result === 'ok' ? 'ok' : ''), text: r.result}),
        el('td', {class: 'num', text: r.fired_ms ? fmtUs(r.lateness_us) : ''}),
        el('td', {class: 'num', text: fmtDur(r.duration_ms)}),
        out);
    });
  tb.replaceChildren(...rows);
  if (!rows.length)
    tb.append(el('tr', {}, el('td', {colspan: '7', class: 'muted', text: 'no runs yet'})));
}

function renderChannels(data) {
  const tb = document.querySelector('#channels tbody');
  tb.replaceChildren(...data.channels.map(c => el('tr', {'data-channel': c.name},
    el('td', {class: 'what', text: c.name}),
    el('td', {text: c.owner}),
    el('td', {class: 'num', text: String(c.queued)}),
    el('td', {class: 'num', text: String(c.inflight)}),
    el('td', {class: 'num' + (c.dead ? ' bad' : ''), text: String(c.dead)}),
    el('td', {class: 'num', text: String(c.subscribers)}))));
  if (!data.channels.length)
    tb.append(el('tr', {}, el('td', {colspan: '6', class: 'muted', text: 'no channels'})));
  const dead = document.getElementById('dead');
  const q = (c, fire) => '/api/dead/requeue?channel=' + encodeURIComponent(c) +
                         (fire ? '&fire=' + fire : '');
  dead.replaceChildren(...data.channels.filter(c => c.dead_letters.length).map(c =>
    el('div', {class: 'dead'},
      el('h3', {}, 'Dead letters of ' + c.name + ' ',
         el('button', {onclick: () => act(q(c.name, 0))}, 'requeue all')),
      el('table', {}, el('tbody', {}, ...c.dead_letters.map(d => el('tr', {'data-fire-id': String(d.fire_id)},
        el('td', {text: fmtTime(d.fired_ms)}),
        el('td', {class: 'num', text: '#' + d.timer_id}),
        el('td', {class: 'what', text: d.payload === null ? '' : d.payload}),
        el('td', {class: 'bad', text: d.reason || ('attempt ' + d.attempt)}),
        el('td', {}, el('button', {onclick: () => act(q(c.name, d.fire_id))}, 'requeue')))))))));
}

function renderStats(st) {
  const box = document.getElementById('lateness');
  const b = st.lateness.buckets, W = 520, H = 170, bw = (W - 20) / b.length;
  const max = Math.max(1, ...b.map(x => x.count));
  const svg = sv('svg', {viewBox: '0 0 ' + W + ' ' + H, width: '100%', role: 'img',
                         'aria-label': 'lateness histogram'});
  b.forEach((x, i) => {
    const h = x.count / max * (H - 45);
    const rect = sv('rect', {x: 10 + i * bw + 2, y: H - 30 - h, width: bw - 4,
                             height: Math.max(h, 0.5), class: 'bar'});
    rect.append(sv('title', {}, x.count + ' runs ' + (x.le_us === null ? 'later' : '≤ ' + fmtUs(x.le_us))));
    svg.append(rect);
    if (x.count)
      svg.append(sv('text', {x: 10 + i * bw + bw / 2, y: H - 33 - h, 'text-anchor': 'middle',
                             class: 'label'}, String(x.count)));
    svg.append(sv('text', {x: 10 + i * bw + bw / 2, y: H - 16, 'text-anchor': 'middle'},
      x.le_us === null ? '>10s' : '≤' + fmtUs(x.le_us).replace(' ', '')));
  });
  box.replaceChildren(svg);
  document.getElementById('lateness-n').textContent =
    st.lateness.runs + ' runs you can see';
  const dl = document.getElementById('stats');
  const kv = [['pending', st.pending_timers], ['fired', st.fired_total],
              ['scheduled', st.scheduled_total], ['cancelled', st.cancelled_total],
              ['queued', st.queued_messages], ['in flight', st.inflight_messages],
              ['dead', st.dead_messages], ['connections', st.connections],
              ['store', st.store], ['evd', st.server_version],
              ['uptime', fmtLeft(now() - st.uptime_s * 1000).replace(' ago', '')]];
  // Cluster mode: this node (null on a single node: nothing shown).
  const n = st.node;
  if (n)
    kv.push(['node', n.id], ['lease', n.lease_live ? 'live' : 'lapsed'],
            ['claims held', n.claims_held], ['claimed', n.claimed_total],
            ['fence losses', n.fence_losses],
            ['reaped', n.reaped_nodes + ' nodes, ' + n.reaped_timers + ' timers'],
            ['lease lapses', n.lease_lapses + ' (' + n.lease_gaps + ' gaps)'],
            ['db latency', fmtUs(n.db_rtt_last_us) + ' (p99 ' + fmtUs(n.db_rtt_p99_us) +
                           ', max ' + fmtUs(n.db_rtt_max_us) + ')'],
            ['db silent', fmtUs(n.db_unanswered_us)]);
  dl.replaceChildren(...kv.flatMap(([k, v]) => [el('dt', {text: k}), el('dd', {text: String(v)})]));
}

function tick() {
  for (const td of document.querySelectorAll('td.left[data-next]')) {
    const n = td.getAttribute('data-next');
    if (n !== '' && td.textContent !== '') td.textContent = fmtLeft(Number(n));
  }
}

let busy = false;
async function poll() {
  if (busy) return;
  busy = true;
  try {
    const [timers, runs, channels, stats] = await Promise.all([
      api('/api/timers'), api('/api/runs'), api('/api/channels'), api('/api/stats')]);
    clockSkew = timers.now_ms - Date.now();
    document.getElementById('who').textContent =
      'as ' + timers.user + ' (uid ' + timers.uid + ')';
    renderTimers(timers);
    renderTimeline(timers);
    renderRuns(runs);
    renderChannels(channels);
    renderStats(stats);
    if (!document.getElementById('status').classList.contains('error'))
      setStatus('updated ' + new Date().toLocaleTimeString(), false);
    document.body.setAttribute('data-loaded', '1');
  } catch (e) {
    setStatus('cannot update: ' + e.message, true);
  } finally {
    busy = false;
  }
}

document.addEventListener('DOMContentLoaded', () => {
  if (token === '') {
    setStatus(NO_TOKEN, true);
    document.body.setAttribute('data-no-token', '1');
    return;
  }
  poll();
  setInterval(poll, POLL_MS);
  setInterval(tick, 1000);
});

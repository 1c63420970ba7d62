// Tally dashboard. The first half holds pure functions (page URL <-> state
// <-> /report queries, chart series); they are exported as window.Tally so the
// browser test can check them. The second half wires them to the page.
'use strict';
(function () {
  var DIMS = ['date', 'device_type', 'category', 'client', 'client_group', 'valid'];
  var METRICS = ['count', 'sum', 'mean'];
  var GRANULARITIES = ['hour', 'day', 'week', 'month'];
  var PRESETS = ['7', '30', '90'];
  var DEVICES = ['desktop', 'mobile', 'tablet', 'null'];
  var LIMITS = [10, 25, 50, 100];
  var MAX_SERIES = 6; // the sixth, when needed, is "other"
  var CHART_PAGE = 10000; // the API's largest page
  var CHART_MAX_PAGES = 5;

  var DEFAULTS = {
    range: '30', from: '', to: '',
    group_by: ['date'], order_by: ['-date'],
    split: 'device_type', metric: 'count', granularity: 'day', tz: 'UTC',
    clients: [], client_groups: [], device_types: [], categories: [], valid: '',
    offset: 0, limit: 25
  };

  // ---- pure functions -----------------------------------------------------

  function words(s) {
    return (s || '').split(/[\s,]+/).filter(function (w) { return w !== ''; });
  }

  function isInt32(w) {
    if (!/^-?\d{1,10}$/.test(w)) { return false; }
    var n = Number(w);
    return n >= -2147483648 && n <= 2147483647;
  }

  function isDate(s) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) { return false; }
    var d = new Date(s + 'T00:00:00Z');
    return !isNaN(d) && d.toISOString().slice(0, 10) === s;
  }

  // addDays shifts a YYYY-MM-DD calendar date; calendar arithmetic in UTC
  // never meets a DST change.
  function addDays(s, n) {
    var d = new Date(s + 'T00:00:00Z');
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }

  function uniq(list) {
    return list.filter(function (v, i) { return list.indexOf(v) === i; });
  }

  // parseIntList parses a filter typed by a person or read from the URL:
  // 32-bit integers (and "none" when allowNone), separated by spaces or
  // commas. It returns the values in the API's spelling and the words it
  // could not read.
  function parseIntList(s, allowNone) {
    var out = { values: [], bad: [] };
    words(s).forEach(function (w) {
      var l = w.toLowerCase();
      if (allowNone && (l === 'none' || l === 'null')) {
        out.values.push('null');
      } else if (isInt32(w)) {
        out.values.push(String(Number(w)));
      } else {
        out.bad.push(w);
      }
    });
    out.values = uniq(out.values);
    return out;
  }

  // normalize makes a state the page can show and the API accepts: unknown
  // values fall back to defaults, order_by keeps only sortable columns.
  function normalize(s) {
    var n = {};
    n.range = PRESETS.indexOf(s.range) >= 0 || s.range === 'custom' ? s.range : DEFAULTS.range;
    n.from = n.range === 'custom' && isDate(s.from) ? s.from : '';
    n.to = n.range === 'custom' && isDate(s.to) ? s.to : '';
    n.group_by = uniq((s.group_by || []).filter(function (d) { return DIMS.indexOf(d) >= 0; }));
    if (n.group_by.length === 0) { n.group_by = DEFAULTS.group_by.slice(); }
    var seen = {};
    n.order_by = (s.order_by || []).filter(function (t) {
      var c = t.charAt(0) === '-' ? t.slice(1) : t;
      var ok = (n.group_by.indexOf(c) >= 0 || METRICS.indexOf(c) >= 0) && !seen[c];
      seen[c] = true;
      return ok;
    });
    n.split = s.split === '' || DIMS.indexOf(s.split) > 0 ? s.split : DEFAULTS.split;
    n.metric = METRICS.indexOf(s.metric) >= 0 ? s.metric : DEFAULTS.metric;
    n.granularity = GRANULARITIES.indexOf(s.granularity) >= 0 ? s.granularity : DEFAULTS.granularity;
    n.tz = typeof s.tz === 'string' && /^[A-Za-z0-9_+\-\/]{1,64}$/.test(s.tz) ? s.tz : DEFAULTS.tz;
    n.clients = parseIntList((s.clients || []).join(' '), false).values;
    n.client_groups = parseIntList((s.client_groups || []).join(' '), false).values;
    n.device_types = DEVICES.filter(function (d) { return (s.device_types || []).indexOf(d) >= 0; });
    n.categories = parseIntList((s.categories || []).join(' '), true).values;
    n.valid = s.valid === 'true' || s.valid === 'false' ? s.valid : '';
    n.limit = LIMITS.indexOf(Number(s.limit)) >= 0 ? Number(s.limit) : DEFAULTS.limit;
    var off = Number(s.offset);
    n.offset = Number.isInteger(off) && off > 0 ? off - (off % n.limit) : 0;
    return n;
  }

  // parseState reads the page's query string. Lists are written like the
  // API's: space (or comma) delimited. A mangled bookmark still loads.
  function parseState(search) {
    var p = new URLSearchParams(search);
    function list(k) { return p.has(k) ? words(p.getAll(k).join(' ')) : null; }
    function str(k) { return p.has(k) ? p.get(k) : null; }
    var s = {};
    Object.keys(DEFAULTS).forEach(function (k) {
      var d = DEFAULTS[k];
      var v = Array.isArray(d) ? list(k) : str(k);
      s[k] = v === null ? (Array.isArray(d) ? d.slice() : d) : v;
    });
    if (!p.has('range') && (p.has('from') || p.has('to'))) { s.range = 'custom'; }
    return normalize(s);
  }

  // stateToSearch writes a state as the page's query string, leaving out
  // defaults so shared links stay short. parseState(stateToSearch(s)) is s.
  function stateToSearch(s) {
    var p = new URLSearchParams();
    Object.keys(DEFAULTS).forEach(function (k) {
      var d = DEFAULTS[k], v = s[k];
      if (Array.isArray(d)) {
        if (v.join(' ') !== d.join(' ')) { p.set(k, v.join(' ')); }
      } else if (String(v) !== String(d)) {
        p.set(k, String(v));
      }
    });
    var q = p.toString();
    return q === '' ? '' : '?' + q;
  }

  // resolveRange turns the state's range into the API's start_date and
  // (exclusive) end_date; today is the current date in the report's zone.
  // A preset of N days ends with today.
  function resolveRange(s, today) {
    if (s.range === 'custom') {
      return { start: s.from, end: s.to ? addDays(s.to, 1) : '' };
    }
    return { start: addDays(today, 1 - Number(s.range)), end: addDays(today, 1) };
  }

  // filterParams are the parameters every query of the view shares. caps
  // tells which report extensions the server has.
  function filterParams(s, today, caps) {
    var p = new URLSearchParams();
    var r = resolveRange(s, today);
    if (r.start) { p.set('start_date', r.start); }
    if (r.end) { p.set('end_date', r.end); }
    [['clients', s.clients], ['client_groups', s.client_groups],
      ['device_types', s.device_types], ['categories', s.categories]].forEach(function (kv) {
      if (kv[1].length) { p.set(kv[0], kv[1].join(' ')); }
    });
    if (s.valid) { p.set('valid', s.valid); }
    if (caps.granularity && s.tz !== 'UTC') { p.set('tz', s.tz); }
    return p;
  }

  function withGranularity(p, s, caps, groupBy) {
    if (caps.granularity && s.granularity !== 'day' && groupBy.indexOf('date') >= 0) {
      p.set('granularity', s.granularity);
    }
    return p;
  }

  // tableQuery is the /report query string of the breakdown table's page.
  function tableQuery(s, today, caps) {
    var p = filterParams(s, today, caps);
    p.set('group_by', s.group_by.join(' '));
    var order = caps.metricOrder ? s.order_by : s.order_by.filter(function (t) {
      return METRICS.indexOf(t.replace(/^-/, '')) < 0;
    });
    if (order.length) { p.set('order_by', order.join(' ')); }
    withGranularity(p, s, caps, s.group_by);
    p.set('offset', String(s.offset));
    p.set('limit', String(s.limit));
    return p.toString();
  }

  // csvQuery asks for every row of the table (no limit/offset) as CSV.
  function csvQuery(s, today, caps) {
    var p = new URLSearchParams(tableQuery(s, today, caps));
    p.delete('offset');
    p.delete('limit');
    p.set('format', 'csv');
    return p.toString();
  }

  // chartQuery is the /report query string of one page of chart data: the
  // metric by date and, when chosen, by the split dimension.
  function chartQuery(s, today, caps, offset) {
    var p = filterParams(s, today, caps);
    var g = s.split ? ['date', s.split] : ['date'];
    p.set('group_by', g.join(' '));
    withGranularity(p, s, caps, g);
    p.set('order_by', 'date');
    p.set('offset', String(offset || 0));
    p.set('limit', String(CHART_PAGE));
    return p.toString();
  }

  // totalsQuery answers the headline numbers on a server whose reports lack
  // "totals": every event is either valid or not, so summing the two rows
  // grouped by validity gives the totals.
  function totalsQuery(s, today, caps) {
    var p = filterParams(s, today, caps);
    p.set('group_by', 'valid');
    p.set('limit', '2');
    return p.toString();
  }

  function totalsFromRows(rows) {
    var t = { count: 0, sum: 0, mean: null };
    rows.forEach(function (r) { t.count += r.count; t.sum += r.sum; });
    if (t.count > 0) { t.mean = t.sum / t.count; }
    return t;
  }

  // bucketKeys lists every date bucket of [start, end) as the API writes
  // them, so days without events still show as zero. It returns null when
  // the buckets cannot be listed here (hours, an open range, too many).
  function bucketKeys(granularity, start, end) {
    if (!start || !end || start >= end) { return null; }
    var keys = [], d = start, limit = 2000;
    if (granularity === 'day') {
      for (; d < end && keys.length <= limit; d = addDays(d, 1)) { keys.push(d); }
    } else if (granularity === 'week') {
      var dow = (new Date(d + 'T00:00:00Z').getUTCDay() + 6) % 7; // Monday = 0
      for (d = addDays(d, -dow); d < end && keys.length <= limit; d = addDays(d, 7)) { keys.push(d); }
    } else if (granularity === 'month') {
      var last = addDays(end, -1).slice(0, 7);
      for (d = d.slice(0, 7); d <= last && keys.length <= limit;) {
        keys.push(d);
        var y = Number(d.slice(0, 4)), m = Number(d.slice(5, 7)) + 1;
        if (m > 12) { m = 1; y++; }
        d = String(y).padStart(4, '0') + '-' + String(m).padStart(2, '0');
      }
    } else {
      return null;
    }
    return keys.length > limit ? null : keys;
  }

  // dimLabel is how a dimension's value reads on the page.
  function dimLabel(dim, v) {
    var prefix = { category: 'category ', client: 'client ', client_group: 'group ' }[dim] || '';
    if (v === null || v === undefined) { return prefix ? 'no ' + prefix.trim() : 'none'; }
    if (dim === 'valid') { return v ? 'valid' : 'invalid'; }
    return prefix + String(v);
  }

  // compareValues orders dimension values as the API does: null first.
  function compareValues(a, b) {
    if (a === b) { return 0; }
    if (a === null) { return -1; }
    if (b === null) { return 1; }
    return a < b ? -1 : 1;
  }

  // buildSeries turns report rows grouped by date (and by split) into chart
  // series over keys. The largest series are kept (by event count, or by
  // |sum| when charting sums); the rest are added up into "other", whose
  // mean is its sum over its count, not a mean of means.
  function buildSeries(rows, opts) {
    var dateKey = opts.granularity || 'day';
    var split = opts.split || '';
    var metric = opts.metric || 'count';
    var cap = opts.cap || MAX_SERIES;
    var keys = opts.keys ? opts.keys.slice() : [];
    var index = {};
    keys.forEach(function (k, i) { index[k] = i; });
    var fromData = [];
    rows.forEach(function (r) {
      if (!(r[dateKey] in index) && fromData.indexOf(r[dateKey]) < 0) { fromData.push(r[dateKey]); }
    });
    if (fromData.length) {
      // The server bucketed differently from bucketKeys (e.g. hours, or an
      // open range): trust its keys, in its (date) order.
      keys = uniq(rows.map(function (r) { return r[dateKey]; }));
      index = {};
      keys.forEach(function (k, i) { index[k] = i; });
    }
    var groups = [], byValue = new Map();
    rows.forEach(function (r) {
      var v = split ? (r[split] === undefined ? null : r[split]) : null;
      var g = byValue.get(v);
      if (!g) {
        g = { value: v, count: keys.map(function () { return 0; }), sum: keys.map(function () { return 0; }), n: 0, s: 0 };
        byValue.set(v, g);
        groups.push(g);
      }
      var i = index[r[dateKey]];
      g.count[i] += r.count; g.sum[i] += r.sum; g.n += r.count; g.s += r.sum;
    });
    var weight = function (g) { return metric === 'sum' ? Math.abs(g.s) : g.n; };
    var ranked = groups.slice().sort(function (a, b) {
      return weight(b) - weight(a) || compareValues(a.value, b.value);
    });
    var kept = ranked.length > cap ? ranked.slice(0, cap - 1) : ranked;
    var rest = ranked.slice(kept.length);
    kept.sort(function (a, b) { return compareValues(a.value, b.value); });
    var out = kept.map(function (g) {
      return { label: split ? dimLabel(split, g.value) : 'all events', count: g.count, sum: g.sum, n: g.n, s: g.s };
    });
    if (rest.length) {
      var o = { label: 'other (' + rest.length + ')', other: true, count: keys.map(function () { return 0; }), sum: keys.map(function () { return 0; }), n: 0, s: 0 };
      rest.forEach(function (g) {
        keys.forEach(function (_, i) { o.count[i] += g.count[i]; o.sum[i] += g.sum[i]; });
        o.n += g.n; o.s += g.s;
      });
      out.push(o);
    }
    out.forEach(function (sr) {
      sr.values = keys.map(function (_, i) {
        if (metric === 'count') { return sr.count[i]; }
        if (metric === 'sum') { return sr.sum[i]; }
        return sr.count[i] ? sr.sum[i] / sr.count[i] : null;
      });
      sr.total = metric === 'count' ? sr.n : metric === 'sum' ? sr.s : (sr.n ? sr.s / sr.n : null);
    });
    return { keys: keys, series: out };
  }

  // niceTicks returns about n round tick values covering [lo, hi].
  function niceTicks(lo, hi, n) {
    if (hi === lo) { hi = lo + 1; }
    var raw = (hi - lo) / Math.max(1, n);
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 2.5, 5, 10].map(function (m) { return m * mag; }).find(function (st) { return st >= raw; });
    var ticks = [];
    for (var t = Math.floor(lo / step) * step; t <= hi + step * 1e-9; t += step) {
      ticks.push(Math.round(t / step) * step);
      if (ticks[ticks.length - 1] >= hi) { break; }
    }
    if (ticks[ticks.length - 1] < hi) { ticks.push(ticks[ticks.length - 1] + step); }
    return ticks;
  }

  // todayIn is the current calendar date in a time zone.
  function todayIn(tz, now) {
    try {
      return new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' })
        .format(now || new Date());
    } catch (e) {
      return (now || new Date()).toISOString().slice(0, 10);
    }
  }

  function validZone(tz) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      return true;
    } catch (e) {
      return false;
    }
  }

  window.Tally = {
    DEFAULTS: DEFAULTS, parseIntList: parseIntList, parseState: parseState, stateToSearch: stateToSearch,
    normalize: normalize, resolveRange: resolveRange, tableQuery: tableQuery, csvQuery: csvQuery,
    chartQuery: chartQuery, totalsQuery: totalsQuery, totalsFromRows: totalsFromRows,
    bucketKeys: bucketKeys, buildSeries: buildSeries, niceTicks: niceTicks, addDays: addDays, todayIn: todayIn
  };

  // ---- the page -----------------------------------------------------------

  if (typeof document === 'undefined' || !document.getElementById('controls')) { return; }

  // Okabe-Ito: distinguishable under the common colour-vision deficiencies;
  // dashes and marker shapes tell series apart even without colour.
  var COLORS = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9'];
  var OTHER_COLOR = '#6b6b6b';
  var DASHES = ['', '6 3', '2 3', '8 3 2 3', '4 4', '1 2'];
  var SVGNS = 'http://www.w3.org/2000/svg';
  var METRIC_TITLE = { count: 'Count of events', sum: 'Sum of value', mean: 'Mean of value' };
  var COLUMN_TITLE = {
    date: 'date', device_type: 'device type', category: 'category', client: 'client',
    client_group: 'client group', valid: 'valid', count: 'count', sum: 'sum', mean: 'mean'
  };

  var $ = function (id) { return document.getElementById(id); };
  var form = $('controls');
  var caps = { granularity: true, metricOrder: true, csv: true };
  var state = parseState(location.search);
  var last = { chart: null, totals: null };
  var chartData = null;
  var generation = 0;
  var aborter = null;
  var fmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  var fmt2 = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  var fmtCompact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });

  function el(tag, attrs, text) {
    var e = tag.indexOf('svg:') === 0 ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { if (attrs[k] !== undefined && attrs[k] !== null) { e.setAttribute(k, attrs[k]); } });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function fmtNum(v) { return v === null || v === undefined ? '–' : fmt.format(v); }

  // ---- form <-> state ----

  function writeForm(s) {
    document.querySelectorAll('.preset').forEach(function (b) {
      b.setAttribute('aria-pressed', String(b.dataset.range === s.range));
    });
    var r = resolveRange(s, todayIn(caps.granularity ? s.tz : 'UTC'));
    $('from').value = r.start;
    $('to').value = r.end ? addDays(r.end, -1) : '';
    $('metric').value = s.metric;
    $('split').value = s.split;
    $('granularity').value = s.granularity;
    $('tz').value = s.tz;
    form.querySelectorAll('input[name=group_by]').forEach(function (c) { c.checked = s.group_by.indexOf(c.value) >= 0; });
    form.querySelectorAll('input[name=device_types]').forEach(function (c) { c.checked = s.device_types.indexOf(c.value) >= 0; });
    $('clients').value = s.clients.join(' ');
    $('client_groups').value = s.client_groups.join(' ');
    $('categories').value = s.categories.map(function (c) { return c === 'null' ? 'none' : c; }).join(' ');
    $('valid').value = s.valid;
    $('limit').value = String(s.limit);
    ['clients', 'client_groups', 'categories', 'tz'].forEach(function (id) { showFieldError(id, ''); });
    $('summary').textContent = summarize(s, r);
  }

  // summarize says in one line what the collapsed controls are set to.
  function summarize(s, r) {
    var parts = [s.range === 'custom' ? (r.start || '…') + ' to ' + (r.end ? addDays(r.end, -1) : '…') : 'last ' + s.range + ' days',
      s.metric + (s.split ? ' per ' + COLUMN_TITLE[s.split] : '')];
    var n = ['clients', 'client_groups', 'device_types', 'categories'].filter(function (k) { return s[k].length; }).length + (s.valid ? 1 : 0);
    if (n) { parts.push(n + (n === 1 ? ' filter' : ' filters')); }
    return parts.join(' · ');
  }

  function showFieldError(id, msg) {
    var input = $(id), p = $(id + '-err');
    input.setAttribute('aria-invalid', msg ? 'true' : 'false');
    if (p) { p.textContent = msg; p.hidden = !msg; }
    if (id === 'tz') { input.setCustomValidity(msg); }
  }

  // readForm returns the state the form shows, or null after marking the
  // fields a person has to fix.
  function readForm(changed) {
    var s = JSON.parse(JSON.stringify(state));
    var ok = true;
    [['clients', false], ['client_groups', false], ['categories', true]].forEach(function (f) {
      var r = parseIntList($(f[0]).value, f[1]);
      if (r.bad.length) {
        ok = false;
        showFieldError(f[0], 'Not ' + (f[1] ? 'an integer or "none"' : 'an integer') + ': ' + r.bad.join(', '));
      } else {
        showFieldError(f[0], '');
        s[f[0]] = r.values;
      }
    });
    var tz = $('tz').value.trim() || 'UTC';
    if (!validZone(tz)) {
      ok = false;
      showFieldError('tz', 'Unknown time zone');
    } else {
      showFieldError('tz', '');
      s.tz = tz;
    }
    if (changed === 'from' || changed === 'to') {
      s.range = 'custom';
      s.from = $('from').value;
      s.to = $('to').value;
    }
    s.metric = $('metric').value;
    s.split = $('split').value;
    s.granularity = $('granularity').value;
    s.group_by = [];
    form.querySelectorAll('input[name=group_by]').forEach(function (c) { if (c.checked) { s.group_by.push(c.value); } });
    if (s.group_by.length === 0) {
      // The API reads an empty group_by as "all six"; keep the last box.
      s.group_by = state.group_by.slice();
      form.querySelectorAll('input[name=group_by]').forEach(function (c) { c.checked = s.group_by.indexOf(c.value) >= 0; });
      say('The table needs at least one dimension to group by.');
    }
    s.device_types = [];
    form.querySelectorAll('input[name=device_types]').forEach(function (c) { if (c.checked) { s.device_types.push(c.value); } });
    s.valid = $('valid').value;
    return ok ? s : null;
  }

  function filtersChanged(a, b) {
    return ['range', 'from', 'to', 'clients', 'client_groups', 'device_types', 'categories', 'valid', 'tz', 'group_by', 'granularity']
      .some(function (k) { return JSON.stringify(a[k]) !== JSON.stringify(b[k]); });
  }

  function setState(next) {
    next = normalize(next);
    if (filtersChanged(state, next)) { next.offset = 0; }
    state = next;
    var search = stateToSearch(state);
    if (search !== location.search) { history.pushState(null, '', location.pathname + search); }
    writeForm(state);
    load();
  }

  // ---- loading ----

  function fetchReport(query, signal) {
    return fetch('/report?' + query, { headers: { Accept: 'application/json' }, signal: signal })
      .then(function (res) {
        return res.text().then(function (text) {
          var body = null;
          try { body = JSON.parse(text); } catch (e) { /* not JSON */ }
          if (!res.ok) {
            var err = new Error(body && body.message ? body.message : 'HTTP ' + res.status + ' ' + res.statusText);
            err.status = res.status;
            throw err;
          }
          if (!body || !Array.isArray(body.rows)) { throw new Error('The server answered something that is not a report.'); }
          return body;
        });
      });
  }

  // probe asks the server once which report extensions it has, so the page
  // can hide the controls an older server would answer with 400.
  function probe() {
    function supports(q) {
      return fetchReport(q).then(function () { return true; }, function (e) { return e.status !== 400; });
    }
    return Promise.all([
      supports('group_by=valid&limit=1&granularity=week&tz=UTC'),
      supports('group_by=valid&limit=1&order_by=-count'),
      fetch('/report?group_by=valid&limit=1&format=csv').then(function (r) { return r.status !== 400; }, function () { return true; })
    ]).then(function (r) {
      caps = { granularity: r[0], metricOrder: r[1], csv: r[2] };
      $('time-controls').hidden = !caps.granularity;
      $('csv').hidden = !caps.csv;
    });
  }

  function say(msg) { $('status').textContent = msg; }

  function showErrors(errs) {
    var msgs = uniq(errs.map(function (e) { return e.message; }));
    var box = $('alert');
    box.textContent = '';
    if (msgs.length) {
      box.appendChild(el('strong', {}, 'The report could not be loaded: '));
      box.appendChild(document.createTextNode(msgs.join(' · ')));
    }
    box.hidden = msgs.length === 0;
  }

  function setBusy(panelId, busy) {
    var p = $(panelId);
    p.setAttribute('aria-busy', String(busy));
    p.classList.toggle('loading', busy);
  }

  function loadChart(s, today, signal) {
    var rows = [];
    function page(offset, n) {
      return fetchReport(chartQuery(s, today, caps, offset), signal).then(function (body) {
        rows = rows.concat(body.rows);
        var next = offset + body.rows.length;
        if (next < body.pagination.total_count && body.rows.length > 0 && n + 1 < CHART_MAX_PAGES) {
          return page(next, n + 1);
        }
        return { rows: rows, truncated: next < body.pagination.total_count, totals: body.totals };
      });
    }
    return page(0, 0);
  }

  function load() {
    var gen = ++generation;
    if (aborter) { aborter.abort(); }
    aborter = new AbortController();
    var signal = aborter.signal;
    var s = state;
    var tz = caps.granularity ? s.tz : 'UTC';
    var today = todayIn(tz);
    var r = resolveRange(s, today);
    var cq = chartQuery(s, today, caps, 0);
    var needChart = cq !== last.chart;
    var errors = [];

    $('csv').href = '/report?' + csvQuery(s, today, caps);
    $('chart-title').textContent = METRIC_TITLE[s.metric] + ' by ' + (caps.granularity ? s.granularity : 'day') +
      (s.split ? ', per ' + COLUMN_TITLE[s.split] : '') + (tz !== 'UTC' ? ' (' + tz + ')' : '');
    say('Loading…');
    setBusy('table-panel', true);
    if (needChart) { setBusy('chart-panel', true); }

    var tableP = fetchReport(tableQuery(s, today, caps), signal).then(function (body) {
      if (gen !== generation) { return null; }
      renderTable(s, body);
      return body;
    }, function (e) {
      if (gen === generation && e.name !== 'AbortError') { errors.push(e); renderTable(s, null); }
      return null;
    });

    var chartP = !needChart ? Promise.resolve(null) : loadChart(s, today, signal).then(function (res) {
      if (gen !== generation) { return null; }
      last.chart = cq;
      chartData = {
        series: buildSeries(res.rows, {
          granularity: caps.granularity ? s.granularity : 'day', split: s.split, metric: s.metric,
          keys: bucketKeys(caps.granularity ? s.granularity : 'day', r.start, r.end)
        }),
        metric: s.metric, granularity: caps.granularity ? s.granularity : 'day', truncated: res.truncated,
        totals: res.totals
      };
      renderChart();
      return res;
    }, function (e) {
      if (gen === generation && e.name !== 'AbortError') {
        errors.push(e);
        last.chart = null;
        chartData = null;
        renderChart();
      }
      return null;
    });

    Promise.all([tableP, chartP]).then(function (res) {
      if (gen !== generation) { return null; }
      var totals = (res[0] && res[0].totals) || (res[1] && res[1].totals) || (chartData && chartData.totals);
      if (totals) { return totals; }
      if (!res[0]) { return null; }
      return fetchReport(totalsQuery(s, today, caps), signal).then(function (b) { return totalsFromRows(b.rows); });
    }).then(function (totals) {
      if (gen !== generation) { return; }
      renderTotals(totals);
      setBusy('table-panel', false);
      setBusy('chart-panel', false);
      showErrors(errors);
      say(errors.length ? 'Failed to load the report.' : 'Report loaded.');
      document.body.dataset.loaded = String(gen);
    }, function (e) {
      if (gen !== generation || e.name === 'AbortError') { return; }
      errors.push(e);
      renderTotals(null);
      setBusy('table-panel', false);
      setBusy('chart-panel', false);
      showErrors(errors);
      say('Failed to load the report.');
      document.body.dataset.loaded = String(gen);
    });
  }

  function renderTotals(t) {
    $('total-count').textContent = t ? fmtNum(t.count) : '–';
    $('total-count').dataset.value = t ? String(t.count) : '';
    $('total-sum').textContent = t ? fmt2.format(t.sum) : '–';
    $('total-mean').textContent = t && t.count ? fmt2.format(t.mean === null || t.mean === undefined ? t.sum / t.count : t.mean) : '–';
  }

  // ---- table ----

  function renderTable(s, body) {
    var table = $('table');
    var head = table.tHead.rows[0];
    var tbody = table.tBodies[0];
    var dateKey = caps.granularity ? s.granularity : 'day';
    var cols = s.group_by.concat(METRICS);
    head.textContent = '';
    tbody.textContent = '';
    var primary = s.order_by[0] || '';
    cols.forEach(function (c) {
      var sortable = DIMS.indexOf(c) >= 0 || caps.metricOrder;
      var dir = primary === c ? 'ascending' : primary === '-' + c ? 'descending' : null;
      var th = el('th', { scope: 'col', 'aria-sort': dir || undefined, class: METRICS.indexOf(c) >= 0 ? 'num' : undefined });
      var name = c === 'date' ? dateKey : COLUMN_TITLE[c];
      if (sortable) {
        var b = el('button', { type: 'button', 'data-col': c }, name);
        b.appendChild(el('span', { class: 'arrow', 'aria-hidden': 'true' }, dir === 'ascending' ? ' ▲' : dir === 'descending' ? ' ▼' : ''));
        b.setAttribute('aria-label', 'Sort by ' + name + (dir === 'ascending' ? ', sorted ascending' : dir === 'descending' ? ', sorted descending' : ''));
        th.appendChild(b);
      } else {
        th.textContent = name;
      }
      head.appendChild(th);
    });
    var rows = body ? body.rows : [];
    rows.forEach(function (r) {
      var tr = el('tr');
      cols.forEach(function (c) {
        var key = c === 'date' ? dateKey : c;
        var v = r[key];
        if (METRICS.indexOf(c) >= 0) {
          tr.appendChild(el('td', { class: 'num', title: String(v), 'data-value': JSON.stringify(v) }, c === 'count' ? fmtNum(v) : fmt2.format(v)));
        } else {
          tr.appendChild(el('td', { class: v === null ? 'none' : undefined, 'data-value': JSON.stringify(v) }, v === null ? 'none' : String(v)));
        }
      });
      tbody.appendChild(tr);
    });
    var total = body ? body.pagination.total_count : 0;
    $('table-empty').hidden = !body || total > 0;
    table.hidden = !!body && total === 0;
    var from = total ? s.offset + 1 : 0, to = s.offset + rows.length;
    $('page-info').textContent = body ? (total ? 'Rows ' + fmtNum(from) + '–' + fmtNum(to) + ' of ' + fmtNum(total) : '0 rows') : '';
    $('page-info').dataset.total = String(total);
    $('prev').disabled = !body || s.offset === 0;
    $('next').disabled = !body || s.offset + s.limit >= total;
  }

  function sortBy(col) {
    var primary = state.order_by[0] || '';
    var term;
    if (primary === col) { term = '-' + col; } else if (primary === '-' + col) { term = col; } else {
      term = METRICS.indexOf(col) >= 0 ? '-' + col : col; // biggest numbers first
    }
    var s = JSON.parse(JSON.stringify(state));
    s.order_by = [term];
    s.offset = 0;
    setState(s);
    var b = document.querySelector('#table th button[data-col="' + col + '"]');
    if (b) { b.focus(); }
  }

  // ---- chart ----

  function renderChart() {
    var svg = $('chart');
    var desc = $('chart-desc');
    while (svg.lastChild && svg.lastChild !== desc) { svg.removeChild(svg.lastChild); }
    var legend = $('legend');
    legend.textContent = '';
    var note = $('chart-note');
    note.hidden = true;
    var d = chartData;
    var empty = !d || d.series.series.length === 0;
    $('chart-empty').hidden = !empty;
    $('chart-empty').textContent = d ? 'No events match these filters in this range.' : 'The chart could not be loaded.';
    svg.classList.toggle('is-empty', empty);
    if (empty) {
      desc.textContent = d ? 'No data.' : 'The chart could not be loaded.';
      svg.setAttribute('viewBox', '0 0 10 1');
      return;
    }
    var keys = d.series.keys, series = d.series.series;
    var W = Math.max(280, Math.round($('chart-wrap').clientWidth || 600));
    var narrow = W < 500;
    var H = narrow ? 220 : 300;
    var m = { l: narrow ? 40 : 56, r: 12, t: 12, b: 28 };
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('width', W);
    svg.setAttribute('height', H);
    var lo = 0, hi = 0;
    series.forEach(function (sr) {
      sr.values.forEach(function (v) { if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
    });
    var ticks = niceTicks(lo, hi, narrow ? 4 : 5);
    lo = ticks[0]; hi = ticks[ticks.length - 1];
    var pw = W - m.l - m.r, ph = H - m.t - m.b;
    var x = function (i) { return m.l + (keys.length === 1 ? pw / 2 : (i * pw) / (keys.length - 1)); };
    var y = function (v) { return m.t + ph - ((v - lo) / (hi - lo)) * ph; };

    var grid = el('svg:g', { class: 'grid', 'aria-hidden': 'true' });
    ticks.forEach(function (t) {
      grid.appendChild(el('svg:line', { x1: m.l, x2: W - m.r, y1: y(t), y2: y(t), class: t === 0 ? 'zero' : '' }));
      grid.appendChild(el('svg:text', { x: m.l - 6, y: y(t) + 4, 'text-anchor': 'end' }, fmtCompact.format(t)));
    });
    var maxLabels = Math.max(2, Math.floor(pw / (narrow ? 56 : 72)));
    var step = Math.ceil(keys.length / maxLabels);
    keys.forEach(function (k, i) {
      if (i % step !== 0) { return; }
      var label = d.granularity === 'month' ? k : d.granularity === 'hour' ? k.slice(5, 16).replace('T', ' ') : k.slice(5);
      grid.appendChild(el('svg:text', { x: x(i), y: H - 8, 'text-anchor': keys.length === 1 ? 'middle' : i === 0 ? 'start' : 'middle' }, label));
    });
    svg.appendChild(grid);

    var drawDots = keys.length <= 200;
    series.forEach(function (sr, si) {
      var color = sr.other ? OTHER_COLOR : COLORS[si % COLORS.length];
      var g = el('svg:g', { class: 'series', 'data-label': sr.label, 'data-points': String(sr.values.filter(function (v) { return v !== null; }).length) });
      var path = '', pen = false;
      sr.values.forEach(function (v, i) {
        if (v === null) { pen = false; return; }
        path += (pen ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(v).toFixed(1);
        pen = true;
      });
      g.appendChild(el('svg:path', { d: path, stroke: color, 'stroke-dasharray': sr.other ? '3 3' : DASHES[si % DASHES.length] || undefined, class: 'line' }));
      if (drawDots) {
        sr.values.forEach(function (v, i) {
          if (v === null) { return; }
          var c = el('svg:circle', { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: keys.length > 60 ? 2 : 3, fill: color, class: 'pt', 'data-key': keys[i], 'data-v': String(v) });
          c.appendChild(el('svg:title', {}, keys[i] + ' · ' + sr.label + ': ' + fmtNum(v)));
          g.appendChild(c);
        });
      }
      svg.appendChild(g);

      var li = el('li');
      var sw = el('svg:svg', { width: 28, height: 10, 'aria-hidden': 'true', class: 'swatch' });
      sw.appendChild(el('svg:line', { x1: 1, x2: 27, y1: 5, y2: 5, stroke: color, 'stroke-dasharray': sr.other ? '3 3' : DASHES[si % DASHES.length] || undefined }));
      li.appendChild(sw);
      li.appendChild(el('span', { class: 'legend-label' }, sr.label));
      li.appendChild(el('span', { class: 'legend-total' }, fmtNum(sr.total)));
      legend.appendChild(li);
    });
    desc.textContent = 'Line chart over ' + keys.length + ' ' + d.granularity + ' buckets from ' + keys[0] + ' to ' +
      keys[keys.length - 1] + '; ' + series.map(function (sr) { return sr.label + ' total ' + fmtNum(sr.total); }).join('; ') + '.';
    if (d.truncated) {
      note.textContent = 'Only the first ' + fmtNum(CHART_PAGE * CHART_MAX_PAGES) + ' report rows are charted; narrow the range or the filters.';
      note.hidden = false;
    }
  }

  // ---- events ----

  form.addEventListener('change', function (e) {
    if (e.target.id === 'limit') { return; }
    var s = readForm(e.target.id);
    if (s) { setState(s); }
  });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var s = readForm('');
    if (s) { setState(s); }
  });
  document.querySelectorAll('.preset').forEach(function (b) {
    b.addEventListener('click', function () {
      var s = readForm('') || JSON.parse(JSON.stringify(state));
      s.range = b.dataset.range;
      s.from = '';
      s.to = '';
      setState(s);
    });
  });
  $('reset').addEventListener('click', function () { setState(JSON.parse(JSON.stringify(DEFAULTS))); });
  $('table').addEventListener('click', function (e) {
    var b = e.target.closest('button[data-col]');
    if (b) { sortBy(b.dataset.col); }
  });
  $('prev').addEventListener('click', function () {
    var s = JSON.parse(JSON.stringify(state));
    s.offset = Math.max(0, s.offset - s.limit);
    setState(s);
  });
  $('next').addEventListener('click', function () {
    var s = JSON.parse(JSON.stringify(state));
    s.offset += s.limit;
    setState(s);
  });
  $('limit').addEventListener('change', function () {
    var s = JSON.parse(JSON.stringify(state));
    s.limit = Number($('limit').value);
    s.offset = 0;
    setState(s);
  });
  window.addEventListener('popstate', function () {
    state = parseState(location.search);
    writeForm(state);
    load();
  });
  var resizeQueued = false;
  window.addEventListener('resize', function () {
    if (resizeQueued) { return; }
    resizeQueued = true;
    requestAnimationFrame(function () { resizeQueued = false; renderChart(); });
  });

  var zones = uniq(['UTC', Intl.DateTimeFormat().resolvedOptions().timeZone, 'Europe/London', 'Europe/Berlin',
    'America/New_York', 'America/Chicago', 'America/Los_Angeles', 'Asia/Kolkata', 'Asia/Tokyo', 'Australia/Sydney']);
  zones.forEach(function (z) { if (z) { $('tz-list').appendChild(el('option', { value: z })); } });

  if (window.matchMedia && window.matchMedia('(max-width: 600px)').matches) { $('options').open = false; }
  writeForm(state);
  say('Loading…');
  probe().then(function () {
    if (!caps.granularity) { state.granularity = 'day'; state.tz = 'UTC'; }
    writeForm(state);
    load();
  });
}());

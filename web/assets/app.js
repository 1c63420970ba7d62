// Tally dashboard. The first half holds pure functions (page URL <-> state
// <-> /report queries, chart series); they are exported as window.Tally so the
// browser test can check them. The second half wires them to the page.
'use strict';
(function () {
  var DIMS = ['date', 'device_type', 'category', 'client', 'client_group', 'valid'];
  var METRICS = ['count', 'sum', 'mean'];
  var GRANULARITIES = ['hour', 'day', 'week', 'month'];
  // The relative ranges are the API's date_range values: "7d" is the seven
  // whole days ending yesterday, "month" runs to the end of today.
  var PRESETS = ['today', 'yesterday', '7d', '30d', '90d', 'month', 'last_month', 'year'];
  var LEGACY_PRESETS = { 7: '7d', 30: '30d', 90: '90d' }; // bookmarks from before date_range
  var COMPARES = ['previous_period', 'previous_year', 'none'];
  var DEVICES = ['desktop', 'mobile', 'tablet', 'null'];
  var LIMITS = [10, 25, 50, 100];
  var MAX_SERIES = 6; // the sixth, when needed, is "other"
  var CHART_PAGE = 10000; // the API's largest page
  var CHART_MAX_PAGES = 5;
  // Split dimensions whose values are few enough to chart them all.
  var SMALL_DIMS = ['device_type', 'valid'];
  var FILTER_OF = { device_type: 'device_types', category: 'categories', client: 'clients', client_group: 'client_groups' };

  var DEFAULTS = {
    range: '30d', from: '', to: '',
    group_by: ['date'], order_by: ['-date'],
    split: 'device_type', metric: 'count', granularity: 'day', tz: 'UTC',
    clients: [], client_groups: [], device_types: [], categories: [], valid: '',
    offset: 0, limit: 25, compare: 'previous_period', other: 'hide'
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
    return Array.from(new Set(list)); // in order of first appearance
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
    var range = LEGACY_PRESETS[s.range] || s.range;
    n.range = PRESETS.indexOf(range) >= 0 || range === 'custom' ? range : DEFAULTS.range;
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
    n.compare = COMPARES.indexOf(s.compare) >= 0 ? s.compare : DEFAULTS.compare;
    n.other = s.other === 'show' ? 'show' : 'hide';
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

  // resolveRange turns the state's range into start_date and (exclusive)
  // end_date; today is the current date in the report's zone. The relative
  // ranges resolve as the API resolves date_range (period.go), which the
  // page asks for when the server has it and whose answer then wins; this
  // is for the form before the answer, and for servers without it.
  function resolveRange(s, today) {
    var month = today.slice(0, 8) + '01';
    switch (s.range) {
      case 'custom': return { start: s.from, end: s.to ? addDays(s.to, 1) : '' };
      case 'today': return { start: today, end: addDays(today, 1) };
      case 'yesterday': return { start: addDays(today, -1), end: today };
      case 'month': return { start: month, end: addDays(today, 1) };
      case 'last_month': return { start: addDays(month, -1).slice(0, 8) + '01', end: month };
      case 'year': return { start: today.slice(0, 5) + '01-01', end: addDays(today, 1) };
    }
    return { start: addDays(today, -parseInt(s.range, 10)), end: today };
  }

  // bounded reports whether the range has both ends, as compare and fill
  // need.
  function bounded(s) {
    return s.range !== 'custom' || (s.from !== '' && s.to !== '');
  }

  // filterParams are the parameters every query of the view shares. caps
  // tells which report extensions the server has.
  function filterParams(s, today, caps) {
    var p = new URLSearchParams();
    if (caps.periods && s.range !== 'custom') {
      p.set('date_range', s.range);
    } else {
      var r = resolveRange(s, today);
      if (r.start) { p.set('start_date', r.start); }
      if (r.end) { p.set('end_date', r.end); }
    }
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
    // A table by date alone is a time series, where a day without events
    // is a 0, not a missing line; in a breakdown, zero rows would be noise.
    if (caps.periods && bounded(s) && s.group_by.join(' ') === 'date') { p.set('fill', 'zero'); }
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
  // metric by date and, when split, by the split dimension, kept to the
  // values in only when given (the top ones: filled rows grow with every
  // value charted). Every bucket of a bounded range comes back (fill=zero),
  // with the earlier period's figures when compared.
  function chartQuery(s, today, caps, offset, split, only) {
    if (split === undefined) { split = s.split; }
    var p = filterParams(s, today, caps);
    if (split && only) {
      p.set(FILTER_OF[split], only.map(function (v) { return v === null ? 'null' : String(v); }).join(' '));
    }
    var g = split ? ['date', split] : ['date'];
    p.set('group_by', g.join(' '));
    withGranularity(p, s, caps, g);
    if (caps.periods && bounded(s)) {
      p.set('fill', 'zero');
      if (s.compare !== 'none') { p.set('compare', s.compare); }
    }
    p.set('order_by', 'date');
    p.set('offset', String(offset || 0));
    p.set('limit', String(CHART_PAGE));
    return p.toString();
  }

  // rankQuery asks for the split's values with the most events (or the
  // largest sum, when charting sums), and by total_count how many there are.
  function rankQuery(s, today, caps) {
    var p = filterParams(s, today, caps);
    p.set('group_by', s.split);
    if (caps.metricOrder) { p.set('order_by', s.metric === 'sum' ? '-sum' : '-count'); }
    p.set('limit', String(MAX_SERIES));
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
  // mean is its sum over its count, not a mean of means. When the rows hold
  // only the top values (opts.all: the rows of the same report unsplit,
  // opts.otherCount: how many values were left out), "other" is all minus
  // the top. Rows with "previous" (compare) give each series its earlier
  // period too, bucket by bucket. opts.until drops that bucket and the
  // later ones.
  function buildSeries(rows, opts) {
    var dateKey = opts.granularity || 'day';
    var split = opts.split || '';
    var metric = opts.metric || 'count';
    var cap = opts.cap || MAX_SERIES;
    var all = opts.all || null;
    var keys = opts.keys ? opts.keys.slice() : [];
    var index = {};
    keys.forEach(function (k, i) { index[k] = i; });
    // The unsplit rows come first: they have every bucket the split ones
    // have, in the server's order (hours of a DST day do not sort as text).
    var dataKeys = uniq((all || []).concat(rows).map(function (r) { return r[dateKey]; }));
    if (dataKeys.some(function (k) { return !(k in index); })) {
      // The server bucketed differently from bucketKeys (it fills the
      // range itself, or hours, or an open range): trust its keys, in its
      // (date) order.
      keys = dataKeys;
      index = {};
      keys.forEach(function (k, i) { index[k] = i; });
    }
    if (opts.until !== undefined && opts.until !== null && opts.until in index) {
      keys = keys.slice(0, index[opts.until]);
      index = {};
      keys.forEach(function (k, i) { index[k] = i; });
    }
    var inRange = function (r) { return r[dateKey] in index; };
    rows = rows.filter(inRange);
    all = all && all.filter(inRange);
    var hasPrev = rows.concat(all || []).some(function (r) { return r.previous; });
    function zeros() { return keys.map(function () { return 0; }); }
    function group(v) {
      return { value: v, count: zeros(), sum: zeros(), pcount: zeros(), psum: zeros(), n: 0, s: 0 };
    }
    function add(g, r, sign) {
      var i = index[r[dateKey]];
      g.count[i] += sign * r.count; g.sum[i] += sign * r.sum; g.n += sign * r.count; g.s += sign * r.sum;
      if (r.previous) { g.pcount[i] += sign * r.previous.count; g.psum[i] += sign * r.previous.sum; }
    }
    var groups = [], byValue = new Map();
    rows.forEach(function (r) {
      var v = split ? (r[split] === undefined ? null : r[split]) : null;
      var g = byValue.get(v);
      if (!g) {
        g = group(v);
        byValue.set(v, g);
        groups.push(g);
      }
      add(g, r, 1);
    });
    var weight = function (g) { return metric === 'sum' ? Math.abs(g.s) : g.n; };
    var ranked = groups.slice().sort(function (a, b) {
      return weight(b) - weight(a) || compareValues(a.value, b.value);
    });
    var kept = ranked.length > cap ? ranked.slice(0, cap - 1) : ranked;
    var rest = ranked.slice(kept.length);
    kept.sort(function (a, b) { return compareValues(a.value, b.value); });
    var out = kept.map(function (g) {
      return { label: split ? dimLabel(split, g.value) : 'all events', count: g.count, sum: g.sum, pcount: g.pcount, psum: g.psum, n: g.n, s: g.s };
    });
    var other = null, otherCount = rest.length;
    if (rest.length) {
      other = group(null);
      rest.forEach(function (g) {
        keys.forEach(function (_, i) {
          other.count[i] += g.count[i]; other.sum[i] += g.sum[i];
          other.pcount[i] += g.pcount[i]; other.psum[i] += g.psum[i];
        });
        other.n += g.n; other.s += g.s;
      });
    } else if (all && opts.otherCount > 0) {
      other = group(null);
      otherCount = opts.otherCount;
      all.forEach(function (r) { add(other, r, 1); });
      rows.forEach(function (r) { add(other, r, -1); });
    }
    if (other) {
      out.push({ label: 'other (' + otherCount + ')', other: true, count: other.count, sum: other.sum,
        pcount: other.pcount, psum: other.psum, n: other.n, s: other.s });
    }
    function values(count, sum) {
      return keys.map(function (_, i) {
        if (metric === 'count') { return count[i]; }
        if (metric === 'sum') { return sum[i]; }
        return count[i] ? sum[i] / count[i] : null;
      });
    }
    out.forEach(function (sr) {
      sr.values = values(sr.count, sr.sum);
      sr.previous = hasPrev ? values(sr.pcount, sr.psum) : null;
      sr.total = metric === 'count' ? sr.n : metric === 'sum' ? sr.s : (sr.n ? sr.s / sr.n : null);
      delete sr.pcount;
      delete sr.psum;
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

  // bucketSpan returns the local dates [start, end) a day, week or month
  // bucket covers, from its key as the API writes it.
  function bucketSpan(granularity, key) {
    if (granularity === 'day') { return { start: key, end: addDays(key, 1) }; }
    if (granularity === 'week') { return { start: key, end: addDays(key, 7) }; }
    var start = key + '-01';
    return { start: start, end: addDays(start, 31).slice(0, 8) + '01' };
  }

  // partialBuckets tells, for each bucket key, whether the bucket holds
  // less than its whole length: the one still running at now (an instant
  // in ms; today is its date in the report's zone), or one the range cuts
  // (a week or month reaching over the range's ends). A partial bucket
  // must not read as a drop.
  function partialBuckets(keys, granularity, range, today, now) {
    return keys.map(function (k) {
      if (granularity === 'hour') {
        var t = Date.parse(k);
        return t <= now && now < t + 3600e3;
      }
      var b = bucketSpan(granularity, k);
      var running = b.start <= today && today < b.end;
      var cut = (range.start !== '' && b.start < range.start) || (range.end !== '' && b.end > range.end);
      return running || cut;
    });
  }

  // formatDecimal writes an exact decimal given as text ("1234.5") with the
  // locale's grouping and at least two fraction digits, all of them kept:
  // Tally's sums have up to 22 significant digits, more than a double
  // holds. A number (no text at hand) is shown to six fraction digits, the
  // most a value has, so float noise does not show.
  function formatDecimal(v, locale) {
    var m = typeof v === 'string' ? /^(-?)(\d+)(?:\.(\d+))?$/.exec(v) : null;
    if (!m) {
      return new Intl.NumberFormat(locale, { minimumFractionDigits: 2, maximumFractionDigits: 6 }).format(Number(v));
    }
    var point = new Intl.NumberFormat(locale).formatToParts(1.5).find(function (p) { return p.type === 'decimal'; });
    var frac = (m[3] || '').replace(/0+$/, '');
    while (frac.length < 2) { frac += '0'; }
    var neg = m[1] === '-' && /[1-9]/.test(m[2] + frac) ? '-' : '';
    return neg + new Intl.NumberFormat(locale).format(BigInt(m[2])) + (point ? point.value : '.') + frac;
  }

  // change describes a headline figure against the earlier period: the
  // relative change with its sign, or the absolute one when the earlier
  // figure is 0 (no percentage of nothing), or why there is none.
  // shown holds the figures as the page writes them (so that sums stay
  // exact): abs, the current figure without its sign, and prev; earlier
  // names the earlier period.
  function change(cur, prev, shown, earlier, locale) {
    var pct = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
    if (prev === null || prev === undefined) {
      return { dir: 'none', delta: '–', vs: 'no events in the ' + earlier };
    }
    if (cur === null || cur === undefined) {
      return { dir: 'none', delta: '–', vs: 'no events in this period (' + shown.prev + ' in the ' + earlier + ')' };
    }
    var d = cur - prev;
    var dir = d > 0 ? 'up' : d < 0 ? 'down' : 'same';
    var sign = d > 0 ? '+' : d < 0 ? '\u2212' : '\u00b1';
    if (prev === 0) {
      return { dir: dir, delta: sign + shown.abs, vs: 'vs 0 in the ' + earlier };
    }
    var p = Math.abs(d) / Math.abs(prev) * 100;
    return { dir: dir, delta: sign + pct.format(p) + '%', vs: 'vs ' + shown.prev + ' in the ' + earlier };
  }

  // parseReport reads a /report body, keeping beside every "sum" its JSON
  // text as sumText where the browser gives source text to revivers
  // (JSON.parse with context): a double cannot hold every exact sum.
  function parseReport(text) {
    return JSON.parse(text, function (k, v, ctx) {
      if (k === 'sum' && ctx && typeof ctx.source === 'string') {
        // The holder is the row (or totals); its keys were listed before
        // this call, so the walk does not visit the added one.
        this.sumText = ctx.source;
      }
      return v;
    });
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
    bucketKeys: bucketKeys, buildSeries: buildSeries, niceTicks: niceTicks, addDays: addDays, todayIn: todayIn,
    rankQuery: rankQuery, partialBuckets: partialBuckets, formatDecimal: formatDecimal, change: change,
    parseReport: parseReport
  };

  // ---- the page -----------------------------------------------------------

  if (typeof document === 'undefined' || !document.getElementById('controls')) { return; }

  // Okabe-Ito: distinguishable under the common colour-vision deficiencies;
  // marker shapes tell series apart even without colour.
  var COLORS = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9'];
  var OTHER_COLOR = '#6b6b6b';
  // Dashes mark the earlier period's lines, so the series themselves are
  // told apart by colour, by marker shape and by the legend.
  var PREVIOUS_DASH = '5 4';
  var MARKERS = ['circle', 'square', 'diamond', 'triangle', 'down', 'bar'];
  var EARLIER = { previous_period: 'previous period', previous_year: 'previous year' };
  var PRESET_TITLE = {
    today: 'today', yesterday: 'yesterday', '7d': 'last 7 days', '30d': 'last 30 days', '90d': 'last 90 days',
    month: 'this month', last_month: 'last month', year: 'this year'
  };
  var SVGNS = 'http://www.w3.org/2000/svg';
  var METRIC_TITLE = { count: 'Count of events', sum: 'Sum of value', mean: 'Mean of value' };
  var COLUMN_TITLE = {
    date: 'date', device_type: 'device type', category: 'category', client: 'client',
    client_group: 'client group', valid: 'valid', count: 'count', sum: 'sum', mean: 'mean'
  };

  var $ = function (id) { return document.getElementById(id); };
  var form = $('controls');
  var caps = { granularity: true, metricOrder: true, csv: true, periods: true };
  var state = parseState(location.search);
  var last = { chart: null };
  var chartData = null;
  var chartRaw = null; // the chart's rows as loaded, charted again for another metric
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
    $('compare').value = s.compare;
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
    var parts = [s.range === 'custom' ? (r.start || '…') + ' to ' + (r.end ? addDays(r.end, -1) : '…') : PRESET_TITLE[s.range],
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
    s.compare = $('compare').value;
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
          try { body = parseReport(text); } catch (e) { /* not JSON */ }
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
      supports('group_by=date&limit=1&date_range=7d&compare=previous_period&fill=zero'),
      fetch('/report?group_by=valid&limit=1&format=csv').then(function (r) { return r.status !== 400; }, function () { return true; })
    ]).then(function (r) {
      caps = { granularity: r[0], metricOrder: r[1], periods: r[2], csv: r[3] };
      $('time-controls').hidden = !caps.granularity;
      $('compare-control').hidden = !caps.periods;
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

  // pages loads up to CHART_MAX_PAGES pages of the report query(offset)
  // answers; body is the first page's answer (totals, comparison, query).
  function pages(query, signal) {
    var rows = [], first = null;
    function page(offset, n) {
      return fetchReport(query(offset), signal).then(function (body) {
        first = first || body;
        rows = rows.concat(body.rows);
        var next = offset + body.rows.length;
        if (next < body.pagination.total_count && body.rows.length > 0 && n + 1 < CHART_MAX_PAGES) {
          return page(next, n + 1);
        }
        return { rows: rows, truncated: next < body.pagination.total_count, body: first };
      });
    }
    return page(0, 0);
  }

  // loadChart loads the chart's rows. Split by a dimension with many
  // values, it asks for the top ones first and then charts only those,
  // with "other" taken from the unsplit report: zero-filled rows grow with
  // every value charted. head is the answer whose totals cover the whole
  // filter.
  function loadChart(s, today, signal) {
    function whole() {
      return pages(function (o) { return chartQuery(s, today, caps, o); }, signal).then(function (res) {
        return { rows: res.rows, all: null, otherCount: 0, truncated: res.truncated ? [res.rows] : [], head: res.body };
      });
    }
    if (!ranked(s)) { return whole(); }
    return fetchReport(rankQuery(s, today, caps), signal).then(function (rank) {
      var n = rank.pagination.total_count;
      if (n <= MAX_SERIES) { return whole(); }
      var top = rank.rows.slice(0, MAX_SERIES - 1).map(function (r) { return r[s.split] === undefined ? null : r[s.split]; });
      return Promise.all([
        pages(function (o) { return chartQuery(s, today, caps, o, s.split, top); }, signal),
        pages(function (o) { return chartQuery(s, today, caps, o, ''); }, signal)
      ]).then(function (res) {
        return {
          rows: res[0].rows, all: res[1].rows, otherCount: n - top.length, head: res[1].body,
          truncated: res.filter(function (r) { return r.truncated; }).map(function (r) { return r.rows; })
        };
      });
    });
  }

  // ranked reports whether the chart asks for the split's top values first.
  function ranked(s) {
    return s.split !== '' && SMALL_DIMS.indexOf(s.split) < 0 && caps.metricOrder;
  }

  // chartKey says what the chart's data depends on: when it is unchanged
  // (a change of the table only), the loaded rows are charted again.
  function chartKey(s, today) {
    return chartQuery(s, today, caps, 0) + (ranked(s) ? '|' + rankQuery(s, today, caps) : '');
  }

  // buildChart charts the loaded rows for the state's metric. A chart cut
  // at the row limit ends before the last bucket it got, which may lack
  // rows, so that a cut never reads as a drop to zero.
  function buildChart(s, raw, r) {
    var dateKey = caps.granularity ? s.granularity : 'day';
    var until = null;
    raw.truncated.forEach(function (rows) {
      var k = rows.length ? rows[rows.length - 1][dateKey] : null;
      if (until === null || (k !== null && k < until)) { until = k; }
    });
    var q = raw.head && raw.head.query;
    var range = q ? { start: q.start_date || '', end: q.end_date || '' } : r;
    return {
      series: buildSeries(raw.rows, {
        granularity: dateKey, split: s.split, metric: s.metric, all: raw.all, otherCount: raw.otherCount,
        keys: bucketKeys(dateKey, range.start, range.end), until: until
      }),
      metric: s.metric, granularity: dateKey, truncated: raw.truncated.length > 0, range: range,
      tz: caps.granularity ? s.tz : 'UTC',
      compare: raw.head && raw.head.comparison ? s.compare : null
    };
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
    var ck = chartKey(s, today);
    var needChart = ck !== last.chart;
    var errors = [];

    $('csv').href = '/report?' + csvQuery(s, today, caps);
    var by = caps.granularity ? s.granularity : 'day';
    $('chart-title').textContent = METRIC_TITLE[s.metric] + ' by ' + by +
      (s.split ? ', per ' + COLUMN_TITLE[s.split] : '') + (tz !== 'UTC' ? ' (' + tz + ')' : '');
    $('subtitle').textContent = subtitle(s, r, tz);
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

    var chartP = (needChart ? loadChart(s, today, signal) : Promise.resolve(chartRaw)).then(function (raw) {
      if (gen !== generation) { return null; }
      last.chart = ck;
      chartRaw = raw;
      chartData = raw ? buildChart(s, raw, r) : null;
      renderChart();
      return raw && raw.head;
    }, function (e) {
      if (gen === generation && e.name !== 'AbortError') {
        errors.push(e);
        last.chart = null;
        chartRaw = null;
        chartData = null;
        renderChart();
      }
      return null;
    });

    Promise.all([tableP, chartP]).then(function (res) {
      if (gen !== generation) { return null; }
      // The chart's unsplit answer covers the whole filter and, compared,
      // the earlier period too.
      var head = res[1];
      if (head && head.totals) { return { totals: head.totals, comparison: head.comparison || null }; }
      var totals = res[0] && res[0].totals;
      if (totals) { return { totals: totals, comparison: null }; }
      if (!res[0]) { return null; }
      return fetchReport(totalsQuery(s, today, caps), signal).then(function (b) {
        return { totals: totalsFromRows(b.rows), comparison: null };
      });
    }).then(function (t) {
      if (gen !== generation) { return; }
      renderTotals(t, s.compare);
      if (chartData && s.range !== 'custom') {
        // The server resolved the relative range: show its dates.
        $('from').value = chartData.range.start;
        $('to').value = chartData.range.end ? addDays(chartData.range.end, -1) : '';
      }
      $('subtitle').textContent = subtitle(s, chartData ? chartData.range : r, tz);
      setBusy('table-panel', false);
      setBusy('chart-panel', false);
      showErrors(errors);
      say(errors.length ? 'Failed to load the report.' : 'Report loaded.');
      document.body.dataset.loaded = String(gen);
    }, function (e) {
      if (gen !== generation || e.name === 'AbortError') { return; }
      errors.push(e);
      renderTotals(null, s.compare);
      setBusy('table-panel', false);
      setBusy('chart-panel', false);
      showErrors(errors);
      say('Failed to load the report.');
      document.body.dataset.loaded = String(gen);
    });
  }

  // subtitle says what the page shows: the granularity chosen, the range
  // and the zone.
  function subtitle(s, r, tz) {
    var last = r.end ? addDays(r.end, -1) : '';
    var dates = r.start && r.start === last ? last : r.start || r.end ? (r.start || '…') + ' to ' + (last || '…') : 'all dates';
    return 'Events by ' + (caps.granularity ? s.granularity : 'day') + ', ' +
      (s.range === 'custom' ? dates : PRESET_TITLE[s.range] + ' (' + dates + ')') + (tz !== 'UTC' ? ', ' + tz : '');
  }

  // renderTotals shows the headline figures and, compared, each one's
  // change against the earlier period. Sums are written from their JSON
  // text, exact.
  function renderTotals(t, compare) {
    var cur = t && t.totals, prev = t && t.comparison ? t.comparison.totals : null;
    function sumText(x) { return x.sumText !== undefined ? x.sumText : x.count === 0 ? '0' : x.sum; }
    function mean(x) { return x.count ? (x.mean === null || x.mean === undefined ? x.sum / x.count : x.mean) : null; }
    var figures = [
      { id: 'count', cur: cur && cur.count, prev: prev && prev.count, show: function (v) { return fmtNum(v); },
        exact: cur && String(cur.count) },
      { id: 'sum', cur: cur && cur.sum, prev: prev && prev.sum,
        show: function (v, x) { return formatDecimal(x ? sumText(x) : v); }, exact: cur && String(sumText(cur)) },
      { id: 'mean', cur: cur && mean(cur), prev: prev && mean(prev), show: function (v) { return fmt2.format(v); },
        exact: cur && String(mean(cur)) }
    ];
    figures.forEach(function (f) {
      var big = $('total-' + f.id), ch = $('change-' + f.id);
      big.textContent = !cur ? '–' : f.cur === null ? '–' : f.show(f.cur, f.id === 'sum' ? cur : null);
      big.dataset.value = cur ? f.exact : '';
      fitText(big);
      ch.textContent = '';
      ch.hidden = !prev;
      ch.className = 'change';
      if (!prev) { return; }
      var abs = f.cur === null ? '' : f.id === 'sum' ? formatDecimal(String(sumText(cur)).replace(/^-/, '')) : f.show(Math.abs(f.cur));
      var c = change(f.cur, f.prev, { abs: abs, prev: f.prev === null ? '' : f.show(f.prev, f.id === 'sum' ? prev : null) }, EARLIER[compare]);
      ch.classList.add(c.dir);
      ch.appendChild(el('span', { class: 'delta' }, c.delta));
      ch.appendChild(document.createTextNode(' '));
      ch.appendChild(el('span', { class: 'vs' }, c.vs));
    });
  }

  // fitText keeps a headline figure on one line: it shrinks the font when
  // the figure (up to 28 characters for an exact sum) is wider than its tile.
  function fitText(e) {
    e.style.fontSize = '';
    if (e.scrollWidth > e.clientWidth && e.clientWidth > 0) {
      var size = parseFloat(getComputedStyle(e).fontSize);
      e.style.fontSize = Math.max(9, Math.floor(size * e.clientWidth / e.scrollWidth * 10) / 10) + 'px';
    }
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
          var text = v === null ? '–' : c === 'count' ? fmtNum(v) : c === 'sum' ? formatDecimal(r.sumText !== undefined ? r.sumText : v) : fmt2.format(v);
          tr.appendChild(el('td', { class: 'num', title: c === 'sum' && r.sumText !== undefined ? r.sumText : String(v), 'data-value': JSON.stringify(v) }, text));
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

  // marker draws a series' point: each series has its own shape, so the
  // lines are told apart without colour. A partial bucket's point is
  // hollow.
  function marker(shape, cx, cy, r, color, partial) {
    var a = { fill: partial ? '#fff' : color, stroke: partial ? color : '#fff', class: 'pt' + (partial ? ' partial' : '') };
    if (shape === 'square' || shape === 'bar') {
      var h = shape === 'bar' ? r * 0.6 : r;
      a.x = (cx - r).toFixed(1); a.y = (cy - h).toFixed(1); a.width = (2 * r).toFixed(1); a.height = (2 * h).toFixed(1);
      return el('svg:rect', a);
    }
    var q = r * 1.3;
    var points = {
      diamond: [[cx, cy - q], [cx + q, cy], [cx, cy + q], [cx - q, cy]],
      triangle: [[cx, cy - q], [cx + q, cy + q * 0.8], [cx - q, cy + q * 0.8]],
      down: [[cx, cy + q], [cx + q, cy - q * 0.8], [cx - q, cy - q * 0.8]]
    }[shape];
    if (points) {
      a.points = points.map(function (p) { return p[0].toFixed(1) + ',' + p[1].toFixed(1); }).join(' ');
      return el('svg:polygon', a);
    }
    a.cx = cx.toFixed(1); a.cy = cy.toFixed(1); a.r = r;
    return el('svg:circle', a);
  }

  // xLabel is a bucket's label on the time axis; hours name their day only
  // where it changes.
  function xLabel(granularity, k, prev) {
    if (granularity === 'month') { return k; }
    if (granularity !== 'hour') { return k.slice(5); }
    var time = k.slice(11, 16);
    return prev !== null && prev.slice(0, 10) === k.slice(0, 10) ? time : k.slice(5, 10) + ' ' + time;
  }

  function renderChart() {
    var svg = $('chart');
    var desc = $('chart-desc');
    while (svg.lastChild && svg.lastChild !== desc) { svg.removeChild(svg.lastChild); }
    var legend = $('legend');
    legend.textContent = '';
    var note = $('chart-note');
    note.hidden = true;
    var d = chartData;
    var empty = !d || d.series.series.length === 0 || d.series.keys.length === 0;
    $('chart-empty').hidden = !empty;
    $('chart-empty').textContent = d ? 'No events match these filters in this range.' : 'The chart could not be loaded.';
    svg.classList.toggle('is-empty', empty);
    if (empty) {
      desc.textContent = d ? 'No data.' : 'The chart could not be loaded.';
      svg.setAttribute('viewBox', '0 0 10 1');
      return;
    }
    var keys = d.series.keys;
    // "other" adds up every value but the top five and dwarfs them on one
    // scale; it is left out until asked for (its total is in the legend).
    var showOther = state.other === 'show';
    var series = d.series.series.filter(function (sr) { return !sr.other || showOther; });
    var W = Math.max(280, Math.round($('chart-wrap').clientWidth || 600));
    var narrow = W < 500;
    var H = narrow ? 220 : 300;
    var m = { l: narrow ? 40 : 56, r: 12, t: 12, b: 28 };
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('width', W);
    svg.setAttribute('height', H);
    var lo = 0, hi = 0;
    series.forEach(function (sr) {
      sr.values.concat(sr.previous || []).forEach(function (v) { if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
    });
    var ticks = niceTicks(lo, hi, narrow ? 4 : 5);
    lo = ticks[0]; hi = ticks[ticks.length - 1];
    var pw = W - m.l - m.r, ph = H - m.t - m.b;
    var x = function (i) { return m.l + (keys.length === 1 ? pw / 2 : (i * pw) / (keys.length - 1)); };
    var y = function (v) { return m.t + ph - ((v - lo) / (hi - lo)) * ph; };
    var half = keys.length === 1 ? pw / 2 : pw / (keys.length - 1) / 2;

    var partial = partialBuckets(keys, d.granularity, d.range, todayIn(d.tz), Date.now());
    var bands = el('svg:g', { class: 'partial-bands' });
    partial.forEach(function (p, i) {
      if (!p) { return; }
      var x0 = Math.max(m.l, x(i) - half), x1 = Math.min(W - m.r, x(i) + half);
      var band = el('svg:rect', { x: x0.toFixed(1), y: m.t, width: Math.max(2, x1 - x0).toFixed(1), height: ph, class: 'partial-band', 'data-key': keys[i] });
      band.appendChild(el('svg:title', {}, keys[i] + ': partial, the bucket is still running or the range cuts it'));
      bands.appendChild(band);
      if (x1 - x0 >= 34) {
        bands.appendChild(el('svg:text', { x: ((x0 + x1) / 2).toFixed(1), y: m.t + 10, 'text-anchor': 'middle', class: 'partial-label' }, 'partial'));
      }
    });
    svg.appendChild(bands);

    var grid = el('svg:g', { class: 'grid', 'aria-hidden': 'true' });
    ticks.forEach(function (t) {
      grid.appendChild(el('svg:line', { x1: m.l, x2: W - m.r, y1: y(t), y2: y(t), class: t === 0 ? 'zero' : '' }));
      grid.appendChild(el('svg:text', { x: m.l - 6, y: y(t) + 4, 'text-anchor': 'end' }, fmtCompact.format(t)));
    });
    svg.appendChild(grid);
    // Time labels: a candidate every step, kept only where it does not
    // touch the last one kept (their widths vary, the hours' most of all).
    var axis = el('svg:g', { class: 'xaxis', 'aria-hidden': 'true' });
    svg.appendChild(axis);
    var step = Math.max(1, Math.ceil(keys.length / Math.max(2, Math.floor(pw / (narrow ? 56 : 72)))));
    var right = -Infinity, prevKey = null;
    for (var i = 0; i < keys.length; i += step) {
      var t = el('svg:text', { x: x(i), y: H - 8, 'text-anchor': 'middle' }, xLabel(d.granularity, keys[i], prevKey));
      axis.appendChild(t);
      var box = t.getBBox();
      if (box.x < 0 || box.x + box.width > W) {
        // Keep the ends of the axis inside the chart.
        t.setAttribute('text-anchor', box.x < 0 ? 'start' : 'end');
        t.setAttribute('x', box.x < 0 ? 0 : W);
        box = t.getBBox();
      }
      if (box.x < right + 6) {
        axis.removeChild(t);
        continue;
      }
      right = box.x + box.width;
      prevKey = keys[i];
    }

    var drawDots = keys.length <= 200;
    d.series.series.forEach(function (sr, si) {
      var color = sr.other ? OTHER_COLOR : COLORS[si % COLORS.length];
      var shape = MARKERS[si % MARKERS.length];
      var shown = !sr.other || showOther;
      // line draws values as a path, leaving out the segments that touch
      // a bucket skip() names; partial() draws just those, faded.
      function line(values, skip) {
        var path = '', pen = false;
        values.forEach(function (v, i) {
          if (v === null || skip(i)) { pen = false; return; }
          path += (pen ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(v).toFixed(1);
          pen = true;
        });
        return path;
      }
      function partialSegments(values) {
        var path = '';
        values.forEach(function (v, i) {
          var j = i + 1;
          if (j < values.length && v !== null && values[j] !== null && (partial[i] || partial[j])) {
            path += 'M' + x(i).toFixed(1) + ' ' + y(v).toFixed(1) + 'L' + x(j).toFixed(1) + ' ' + y(values[j]).toFixed(1);
          }
        });
        return path;
      }
      var none = function () { return false; };
      var isPartial = function (i) { return partial[i]; };
      if (shown) {
        var g = el('svg:g', { class: 'series', 'data-label': sr.label, 'data-points': String(sr.values.filter(function (v) { return v !== null; }).length) });
        if (sr.previous) {
          g.appendChild(el('svg:path', {
            d: line(sr.previous, none), stroke: color, 'stroke-dasharray': PREVIOUS_DASH, class: 'line prev',
            'data-values': JSON.stringify(sr.previous)
          }));
        }
        g.appendChild(el('svg:path', { d: line(sr.values, isPartial), stroke: color, class: 'line' }));
        var seg = partialSegments(sr.values);
        if (seg) { g.appendChild(el('svg:path', { d: seg, stroke: color, class: 'line partial' })); }
        if (drawDots) {
          sr.values.forEach(function (v, i) {
            if (v === null) { return; }
            var c = marker(shape, x(i), y(v), keys.length > 60 ? 2.5 : 3.5, color, partial[i]);
            c.setAttribute('data-key', keys[i]);
            c.setAttribute('data-v', String(v));
            if (partial[i]) { c.setAttribute('data-partial', 'true'); }
            var prev = sr.previous && sr.previous[i] !== null ? ' (' + EARLIER[d.compare] + ': ' + fmtNum(sr.previous[i]) + ')' : '';
            c.appendChild(el('svg:title', {}, keys[i] + ' · ' + sr.label + ': ' + fmtNum(v) + prev + (partial[i] ? ', partial' : '')));
            g.appendChild(c);
          });
        }
        svg.appendChild(g);
      }

      var li = el('li', { class: shown ? undefined : 'off' });
      var sw = el('svg:svg', { width: 28, height: 10, 'aria-hidden': 'true', class: 'swatch' });
      sw.appendChild(el('svg:line', { x1: 1, x2: 27, y1: 5, y2: 5, stroke: color }));
      sw.appendChild(marker(shape, 14, 5, 3, color, false));
      li.appendChild(sw);
      li.appendChild(el('span', { class: 'legend-label' }, sr.label));
      li.appendChild(el('span', { class: 'legend-total' }, fmtNum(sr.total)));
      if (sr.other) {
        li.appendChild(el('button', { type: 'button', id: 'toggle-other', class: 'link', 'aria-pressed': String(showOther) },
          showOther ? 'hide' : 'show'));
      }
      legend.appendChild(li);
    });
    if (partial.some(function (p) { return p; })) {
      var pli = el('li', { class: 'legend-partial' });
      var psw = el('svg:svg', { width: 28, height: 10, 'aria-hidden': 'true', class: 'swatch' });
      psw.appendChild(el('svg:rect', { x: 8, y: 0, width: 12, height: 10, class: 'partial-band' }));
      pli.appendChild(psw);
      pli.appendChild(el('span', { class: 'legend-label' }, 'shaded: partial ' + d.granularity + ' (' +
        keys.filter(function (_, i) { return partial[i]; }).map(function (k) { return xLabel(d.granularity, k, null); }).join(', ') +
        '), so far or cut by the range'));
      legend.appendChild(pli);
    }
    if (d.compare && series.some(function (sr) { return sr.previous; })) {
      var li = el('li', { class: 'legend-prev' });
      var sw = el('svg:svg', { width: 28, height: 10, 'aria-hidden': 'true', class: 'swatch' });
      sw.appendChild(el('svg:line', { x1: 1, x2: 27, y1: 5, y2: 5, stroke: OTHER_COLOR, 'stroke-dasharray': PREVIOUS_DASH }));
      li.appendChild(sw);
      li.appendChild(el('span', { class: 'legend-label' }, 'dashed: ' + EARLIER[d.compare]));
      legend.appendChild(li);
    }
    desc.textContent = 'Line chart over ' + keys.length + ' ' + d.granularity + ' buckets from ' + keys[0] + ' to ' +
      keys[keys.length - 1] + '; ' + series.map(function (sr) { return sr.label + ' total ' + fmtNum(sr.total); }).join('; ') +
      (d.compare ? '; dashed lines: the ' + EARLIER[d.compare] : '') + '.';
    if (d.truncated) {
      note.textContent = 'Showing the first ' + fmtNum(CHART_PAGE * CHART_MAX_PAGES) + ' rows, up to ' + keys[keys.length - 1] +
        '; narrow the filter, shorten the range or choose a wider granularity to chart the rest.';
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
  $('legend').addEventListener('click', function (e) {
    if (!e.target.closest('#toggle-other')) { return; }
    // Only the drawing changes: no report to load again.
    state.other = state.other === 'show' ? 'hide' : 'show';
    history.pushState(null, '', location.pathname + stateToSearch(state));
    renderChart();
    var b = $('toggle-other');
    if (b) { b.focus(); }
  });
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
    requestAnimationFrame(function () {
      resizeQueued = false;
      renderChart();
      ['count', 'sum', 'mean'].forEach(function (id) { fitText($('total-' + id)); });
    });
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

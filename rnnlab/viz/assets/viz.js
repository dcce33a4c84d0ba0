/* rnnlab viz: draws the views of one page from the inlined data (no network).
 *
 * Colour scales (docs/viz.md; the browser tests recompute them in Python):
 *   diverging  value v on [-R, R] (R = max(|lo|, |hi|) of the range): t = clamp(v / R, -1, 1);
 *              t >= 0 mixes white towards POS by t, t < 0 towards NEG by -t
 *   sequential value v on [lo, hi]: t = clamp((v - lo) / (hi - lo), 0, 1), white towards SEQ
 *   mix(end, t) = round(255 + t · (end - 255)) per channel (round half up)
 * Large texts: only the lines in view (plus a margin) exist as elements; colouring a unit
 * touches those alone. Activations are 8-bit codes per unit, decoded on first use.
 */
(function () {
  "use strict";

  var NEG = [67, 147, 195], POS = [214, 96, 77], SEQ = [128, 125, 186];
  var DATA = JSON.parse(document.getElementById("rnnviz-data").textContent);
  var main = document.getElementById("main");
  var tooltip = document.getElementById("tooltip");
  var cache = {};

  // -- data ------------------------------------------------------------------------------------
  function typed(ref) {
    if (cache[ref.blob]) return cache[ref.blob];
    var binary = atob(document.getElementById(ref.blob).textContent.trim());
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    var array = ref.dtype === "u8" ? bytes
      : ref.dtype === "u16" ? new Uint16Array(bytes.buffer)
      : new Float32Array(bytes.buffer);
    cache[ref.blob] = array;
    return array;
  }

  // -- colours ---------------------------------------------------------------------------------
  function mix(end, t) {
    return [Math.floor(255 + t * (end[0] - 255) + 0.5), Math.floor(255 + t * (end[1] - 255) + 0.5),
            Math.floor(255 + t * (end[2] - 255) + 0.5)];
  }
  function colour(scale, v, range) {
    if (v === null || !isFinite(v)) return null;
    var t;
    if (scale === "diverging") {
      var bound = Math.max(Math.abs(range[0]), Math.abs(range[1])) || 1;
      t = Math.max(-1, Math.min(1, v / bound));
      return t >= 0 ? mix(POS, t) : mix(NEG, -t);
    }
    var span = range[1] - range[0];
    t = span > 0 ? Math.max(0, Math.min(1, (v - range[0]) / span)) : 0;
    return mix(SEQ, t);
  }
  function css(rgb) { return rgb ? "rgb(" + rgb[0] + ", " + rgb[1] + ", " + rgb[2] + ")" : ""; }
  function legend(scale, range, label) {
    var box = el("span", { className: "legend" });
    var bar = el("span", { className: "bar" });
    bar.style.background = scale === "diverging"
      ? "linear-gradient(to right, " + css(NEG) + ", #fff, " + css(POS) + ")"
      : "linear-gradient(to right, #fff, " + css(SEQ) + ")";
    var lo = scale === "diverging" ? -Math.max(Math.abs(range[0]), Math.abs(range[1])) : range[0];
    var hi = scale === "diverging" ? -lo : range[1];
    box.append(el("span", { textContent: label + " " + fmt(lo) }), bar,
               el("span", { textContent: fmt(hi) }));
    bar.setAttribute("role", "img");
    bar.setAttribute("aria-label", "colour scale from " + fmt(lo) + " to " + fmt(hi));
    return box;
  }

  // -- small helpers ---------------------------------------------------------------------------
  function el(tag, props, children) {
    var node = document.createElement(tag);
    if (props) for (var key in props) {
      if (key === "attrs") for (var a in props.attrs) node.setAttribute(a, props.attrs[a]);
      else node[key] = props[key];
    }
    if (children) node.append.apply(node, children);
    return node;
  }
  function fmt(x) {
    if (x === null || x === undefined || !isFinite(x)) return "–";
    var a = Math.abs(x);
    return a !== 0 && (a < 1e-3 || a >= 1e4) ? x.toExponential(2) : x.toFixed(3);
  }
  // How a character is written where it must be seen: in lists (a space as ␣) and in the text
  // (a space stays a space; line breaks and tabs get a visible mark).
  function shown(ch) {
    return ch === " " ? "␣" : inText(ch);
  }
  function inText(ch) {
    return ch === "\n" ? "↵" : ch === "\t" ? "→" : ch === "\r" ? "␍" : ch;
  }
  function isControl(ch) { return ch === "\n" || ch === "\t" || ch === "\r"; }
  function showTooltip(anchor, nodes) {
    tooltip.replaceChildren.apply(tooltip, nodes);
    tooltip.hidden = false;
    var box = anchor.getBoundingClientRect();
    var left = Math.min(window.scrollX + box.left, window.scrollX + document.documentElement.clientWidth - tooltip.offsetWidth - 8);
    tooltip.style.left = Math.max(0, left) + "px";
    tooltip.style.top = (window.scrollY + box.bottom + 6) + "px";
  }
  function hideTooltip() { tooltip.hidden = true; }

  function header() {
    var meta = document.getElementById("meta");
    var notes = document.getElementById("notes");
    meta.textContent = (DATA.run ? "run " + DATA.run + " · " : "") + "made by rnnlab viz";
    (DATA.notes || []).forEach(function (note) { notes.append(el("li", { textContent: note })); });
  }

  // ===========================================================================================
  // Char LM
  // ===========================================================================================
  function lmView() {
    var text = DATA.text, T = text.length, WRAP = 100, LH = 22, OVERSCAN = 12;
    var L = DATA.model.layers, H = DATA.model.hidden;
    var quantities = DATA.quantities;
    var surprisal = typed(DATA.surprisal);
    var topIds = typed(DATA.topk.ids), topProbs = typed(DATA.topk.probs), K = DATA.topk.k;
    var grad = DATA.gradflow && DATA.gradflow.steps ? DATA.gradflow : null;
    var state = { shade: "unit", quantity: 0, layer: L - 1, unit: 0, cursor: 0, active: 0, matches: null };

    document.getElementById("meta").textContent =
      (DATA.run ? "run " + DATA.run + " · " : "") + T.toLocaleString("en") + " characters · " +
      L + " layer" + (L > 1 ? "s" : "") + " × " + H + " units · vocabulary of " + DATA.model.vocab;

    // ---- display lines (a line break ends a line; long lines wrap at WRAP characters)
    var starts = [];
    (function () {
      var start = 0, column = 0;
      for (var i = 0; i < T; i++) {
        column++;
        if (text[i] === "\n" || column === WRAP) { starts.push(start); start = i + 1; column = 0; }
      }
      if (start < T || starts.length === 0) starts.push(start);
    })();
    function lineOf(i) {
      var lo = 0, hi = starts.length - 1;
      while (lo < hi) { var mid = (lo + hi + 1) >> 1; if (starts[mid] <= i) lo = mid; else hi = mid - 1; }
      return lo;
    }
    function lineEnd(line) { return line + 1 < starts.length ? starts[line + 1] : T; }

    // ---- values
    function unitValues(qi, layer, unit) {
      var q = quantities[qi].layers[layer];
      var codes = typed(q.codes), lo = typed(q.lo)[unit], step = typed(q.step)[unit];
      return { codes: codes, offset: unit * T, lo: lo, step: step };
    }
    var current = null;
    function refreshValues() {
      current = unitValues(state.quantity, state.layer, state.unit);
      // an unbounded quantity (range null) is shaded on the unit's own largest |value|
      var bound = Math.max(Math.abs(current.lo), Math.abs(current.lo + 255 * current.step)) || 1;
      current.range = quantities[state.quantity].layers[state.layer].range || [-bound, bound];
    }
    function unitValue(i) { return current.lo + current.codes[current.offset + i] * current.step; }
    function gradValue(i, mode) {
      if (!grad || i >= grad.steps) return null;
      var v = typed(grad[mode + "_log10"])[state.layer * grad.steps + i];
      return isFinite(v) ? v : null;
    }
    function gradRange(mode) {
      var values = typed(grad[mode + "_log10"]), lo = Infinity, hi = -Infinity;
      for (var i = 0; i < values.length; i++) if (isFinite(values[i])) {
        lo = Math.min(lo, values[i]); hi = Math.max(hi, values[i]);
      }
      return lo <= hi ? [lo, hi] : [0, 1];
    }
    function shade(i) {
      if (state.shade === "unit") {
        return colour(quantities[state.quantity].scale, unitValue(i), current.range);
      }
      if (state.shade === "surprisal") return colour("sequential", surprisal[i], DATA.surprisal_range);
      var mode = state.shade === "grad-last" ? "last" : "every";
      return colour("sequential", gradValue(i, mode), gradRange(mode));
    }

    // ---- controls
    var controls = el("section", { className: "controls", attrs: { "aria-label": "What to show" } });
    var shadeSelect = el("select", { id: "shade" });
    [["unit", "a unit's activation"], ["surprisal", "surprisal (nats)"]]
      .concat(grad ? [["grad-every", "‖∂L/∂h‖, loss at every character"],
                      ["grad-last", "‖∂L/∂h‖, loss at the last character"]] : [])
      .forEach(function (o) { shadeSelect.append(el("option", { value: o[0], textContent: o[1] })); });
    var layerSelect = el("select", { id: "layer" });
    for (var l = 0; l < L; l++) layerSelect.append(el("option", { value: String(l), textContent: String(l + 1) }));
    layerSelect.value = String(state.layer);
    var quantitySelect = el("select", { id: "quantity" });
    quantities.forEach(function (q, k) {
      quantitySelect.append(el("option", { value: String(k), textContent: q.name + " — " + q.label }));
    });
    var unitInput = el("input", { id: "unit", type: "number", min: 0, max: H - 1, step: 1, value: 0 });
    var prev = el("button", { id: "prev-unit", type: "button", textContent: "◀ previous unit" });
    var next = el("button", { id: "next-unit", type: "button", textContent: "next unit ▶" });
    var legendBox = el("span", { id: "legend" });
    controls.append(
      el("label", null, ["Shade by", shadeSelect]),
      el("label", null, ["Layer", layerSelect]),
      el("label", null, ["Quantity", quantitySelect]),
      el("label", null, ["Unit (0–" + (H - 1) + ")", unitInput]), prev, next, legendBox);

    // ---- text box
    var box = el("div", { id: "text", className: "textbox", tabIndex: 0,
      attrs: { role: "application", "aria-roledescription": "text viewer",
               "aria-label": "The text, each character shaded. Arrow keys move, [ and ] change the unit.",
               "aria-describedby": "info" } });
    var spacer = el("div", { className: "spacer" });
    spacer.style.height = (starts.length * LH) + "px";
    box.append(spacer);
    var rendered = [-1, -1];

    function renderLines(force) {
      var top = box.scrollTop, height = box.clientHeight || 400;
      var first = Math.max(0, Math.floor(top / LH) - OVERSCAN);
      var last = Math.min(starts.length, Math.ceil((top + height) / LH) + OVERSCAN);
      if (!force && first === rendered[0] && last === rendered[1]) return;
      rendered = [first, last];
      var fragment = document.createDocumentFragment();
      for (var line = first; line < last; line++) {
        var div = el("div", { className: "line" });
        div.style.top = (line * LH) + "px";
        for (var i = starts[line], end = lineEnd(line); i < end; i++) {
          var span = el("span", { className: isControl(text[i]) ? "ch ctl" : "ch", id: "ch-" + i,
                                  textContent: inText(text[i]) });
          span.dataset.i = i;
          paint(span, i);
          div.append(span);
        }
        fragment.append(div);
      }
      spacer.replaceChildren(fragment);
      markCursor();
    }
    function paint(span, i) {
      span.style.backgroundColor = css(shade(i));
      if (state.matches) span.classList.toggle("match", state.matches[i] === 1);
    }
    function repaint() {
      refreshValues();
      var spans = spacer.querySelectorAll(".ch");
      for (var k = 0; k < spans.length; k++) paint(spans[k], +spans[k].dataset.i);
      updateLegend();
      describe(state.active);
    }
    function markCursor() {
      var old = spacer.querySelector(".ch.cursor");
      if (old) old.classList.remove("cursor");
      var span = document.getElementById("ch-" + state.cursor);
      if (span) { span.classList.add("cursor"); box.setAttribute("aria-activedescendant", span.id); }
    }
    function scrollToChar(i) {
      var top = lineOf(i) * LH;
      if (top < box.scrollTop) box.scrollTop = top;
      else if (top + LH > box.scrollTop + box.clientHeight) box.scrollTop = top + LH - box.clientHeight;
      renderLines(false);
    }
    function updateLegend() {
      var node;
      if (state.shade === "unit") {
        var q = quantities[state.quantity];
        node = legend(q.scale, current.range, q.name + (q.layers[state.layer].range ? "" : " (this unit's range)"));
      } else if (state.shade === "surprisal") {
        node = legend("sequential", DATA.surprisal_range, "nats");
      } else {
        node = legend("sequential", gradRange(state.shade === "grad-last" ? "last" : "every"), "log₁₀");
      }
      legendBox.replaceChildren(node);
    }

    // ---- the character info (panel and tooltip)
    var info = el("section", { id: "info", attrs: { "aria-live": "polite", "aria-label": "Character" } });
    function topkList(i) {
      var list = el("ol", { className: "topk" });
      var nextChar = i + 1 < T ? text[i + 1] : null;
      for (var k = 0; k < K; k++) {
        var id = topIds[i * K + k], ch = DATA.vocab[id], p = topProbs[i * K + k];
        var item = el("li", null, [el("span", { className: "ch", textContent: shown(ch) }),
                                   el("span", { className: "p", textContent: p.toFixed(3) })]);
        item.dataset.id = id;
        if (ch === nextChar) { item.className = "actual"; item.append(" ← next"); }
        list.append(item);
      }
      return list;
    }
    function describe(i) {
      state.active = i;
      var line = lineOf(i);
      var parts = [el("h2", { textContent: "Character " + JSON.stringify(text[i]) + " at " + i })];
      parts.push(el("p", { textContent: "line " + (line + 1) + ", column " + (i - starts[line]) }));
      var q = quantities[state.quantity];
      parts.push(el("p", { id: "value", textContent: "layer " + (state.layer + 1) + " " + q.name +
        " unit " + state.unit + ": " + fmt(unitValue(i)) }));
      parts.push(el("p", { id: "surprisal", textContent: "surprisal: " +
        (isFinite(surprisal[i]) ? surprisal[i].toFixed(3) + " nats" : "– (nothing predicts the first character)") }));
      if (grad && i < grad.steps) {
        parts.push(el("p", { textContent: "‖∂L/∂h‖ (layer " + (state.layer + 1) + "): every " +
          fmt(Math.pow(10, gradValue(i, "every"))) + ", last " + fmt(Math.pow(10, gradValue(i, "last"))) }));
      }
      parts.push(el("h3", { textContent: "Next character after reading it (top " + K + ")" }));
      parts.push(topkList(i));
      info.replaceChildren.apply(info, parts);
    }
    function hover(i, span) {
      describe(i);
      showTooltip(span, [el("strong", { textContent: shown(text[i]) + " → next:" }), topkList(i)]);
    }

    box.addEventListener("scroll", function () { window.requestAnimationFrame(function () { renderLines(false); }); });
    box.addEventListener("mouseover", function (event) {
      var span = event.target.closest && event.target.closest(".ch");
      if (span && span.dataset.i !== undefined) hover(+span.dataset.i, span);
    });
    box.addEventListener("mouseleave", hideTooltip);
    box.addEventListener("click", function (event) {
      var span = event.target.closest && event.target.closest(".ch");
      if (span && span.dataset.i !== undefined) moveTo(+span.dataset.i);
    });
    box.addEventListener("blur", hideTooltip);
    box.addEventListener("focus", function () { moveTo(state.cursor); });
    function moveTo(i) {
      state.cursor = Math.max(0, Math.min(T - 1, i));
      scrollToChar(state.cursor);
      markCursor();
      var span = document.getElementById("ch-" + state.cursor);
      if (span) hover(state.cursor, span);
    }
    box.addEventListener("keydown", function (event) {
      var i = state.cursor, line = lineOf(i), column = i - starts[line], handled = true;
      switch (event.key) {
        case "ArrowRight": moveTo(i + 1); break;
        case "ArrowLeft": moveTo(i - 1); break;
        case "ArrowDown": case "ArrowUp": case "PageDown": case "PageUp": {
          var delta = { ArrowDown: 1, ArrowUp: -1, PageDown: 20, PageUp: -20 }[event.key];
          var target = Math.max(0, Math.min(starts.length - 1, line + delta));
          moveTo(Math.min(starts[target] + column, lineEnd(target) - 1));
          break;
        }
        case "Home": moveTo(event.ctrlKey ? 0 : starts[line]); break;
        case "End": moveTo(event.ctrlKey ? T - 1 : lineEnd(line) - 1); break;
        case "]": setUnit(state.unit + 1); break;
        case "[": setUnit(state.unit - 1); break;
        case "Escape": hideTooltip(); break;
        default: handled = false;
      }
      if (handled) event.preventDefault();
    });

    // ---- unit selection
    function setUnit(unit) {
      state.unit = ((unit % H) + H) % H;
      unitInput.value = state.unit;
      repaint();
    }
    function select(quantity, layer, unit) {
      state.shade = "unit"; shadeSelect.value = "unit";
      state.quantity = quantity; quantitySelect.value = String(quantity);
      state.layer = layer; layerSelect.value = String(layer);
      setUnit(unit);
    }
    unitInput.addEventListener("change", function () {
      var v = parseInt(unitInput.value, 10);
      setUnit(isNaN(v) ? 0 : Math.max(0, Math.min(H - 1, v)));
    });
    prev.addEventListener("click", function () { setUnit(state.unit - 1); });
    next.addEventListener("click", function () { setUnit(state.unit + 1); });
    layerSelect.addEventListener("change", function () { state.layer = +layerSelect.value; repaint(); });
    quantitySelect.addEventListener("change", function () { state.quantity = +quantitySelect.value; repaint(); });
    shadeSelect.addEventListener("change", function () { state.shade = shadeSelect.value; repaint(); });

    // ---- ranking (computed in Python) and search (computed here)
    var side = el("aside", { attrs: { "aria-label": "Units" } });
    var ranking = el("section", { id: "ranking" }, [el("h2", { textContent: "Units that track text features" }),
      el("p", { className: "help", textContent: "Pearson r of each unit (all layers and quantities) with the feature, largest |r| first." })]);
    function unitButton(quantityName, layer, unit, score, label) {
      var qi = quantities.findIndex(function (q) { return q.name === quantityName; });
      var button = el("button", { type: "button", textContent: "L" + (layer + 1) + " " + quantityName +
        " " + unit + " (" + label + " " + (score >= 0 ? "+" : "") + score.toFixed(3) + ")" });
      button.dataset.quantity = quantityName; button.dataset.layer = layer; button.dataset.unit = unit;
      button.dataset.score = score;
      button.addEventListener("click", function () { select(qi, layer, unit); });
      return el("li", null, [button]);
    }
    DATA.ranking.forEach(function (feature) {
      var list = el("ol", { className: "unit-list", attrs: { "data-feature": feature.feature } });
      feature.units.forEach(function (u) { list.append(unitButton(u.quantity, u.layer, u.unit, u.r, "r")); });
      if (!feature.units.length) list.append(el("li", { textContent: "(constant over this text: nothing to rank)" }));
      ranking.append(el("h3", { textContent: feature.label }), list);
    });
    var search = el("section", { id: "search" }, [el("h2", { textContent: "Search units" })]);
    var form = el("form", { id: "search-form" });
    var pattern = el("input", { id: "pattern", type: "text", size: 10 });
    form.append(el("label", null, ["Units that fire on ", pattern]), " ",
                el("button", { type: "submit", textContent: "Find" }));
    var results = el("ol", { id: "search-results", className: "unit-list" });
    var searchNote = el("p", { className: "help", id: "search-note",
      textContent: "Scores every unit of the chosen layer and quantity: (mean on the matching characters − mean elsewhere) / standard deviation." });
    search.append(form, searchNote, results);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      results.replaceChildren();
      var p = pattern.value;
      if (!p) { state.matches = null; repaint(); return; }
      var marks = new Uint8Array(T), count = 0;
      for (var at = text.indexOf(p); at !== -1; at = text.indexOf(p, at + 1)) {
        for (var k = at; k < at + p.length; k++) { if (!marks[k]) count++; marks[k] = 1; }
      }
      state.matches = marks;
      if (count === 0 || count === T) {
        searchNote.textContent = count === 0 ? "No match for " + JSON.stringify(p) + "."
          : "Every character matches: nothing to compare with.";
        repaint(); return;
      }
      var q = quantities[state.quantity].layers[state.layer], codes = typed(q.codes);
      var scores = [];
      for (var u = 0; u < H; u++) {
        var on = 0, off = 0, sum2 = 0, base = u * T;
        for (var t = 0; t < T; t++) { var c = codes[base + t]; if (marks[t]) on += c; else off += c; sum2 += c * c; }
        var mean = (on + off) / T, sd = Math.sqrt(Math.max(0, sum2 / T - mean * mean));
        scores.push([sd > 0 ? (on / count - off / (T - count)) / sd : 0, u]);
      }
      scores.sort(function (a, b) { return Math.abs(b[0]) - Math.abs(a[0]); });
      var name = quantities[state.quantity].name;
      scores.slice(0, 10).forEach(function (s) { results.append(unitButton(name, state.layer, s[1], s[0], "d")); });
      searchNote.textContent = count + " matching characters; units of layer " + (state.layer + 1) +
        " " + name + " by standardised difference d:";
      repaint();
    });
    side.append(info, ranking, search);

    // ---- gradient flow heat map
    var heat = el("section", { className: "heat", id: "gradflow", attrs: { "aria-labelledby": "gradflow-title" } },
                  [el("h2", { id: "gradflow-title", textContent: "Gradient flow: ‖∂L/∂h_t‖ per layer and step" })]);
    if (grad) {
      var rows = [];
      ["every", "last"].forEach(function (mode) { for (var l2 = 0; l2 < L; l2++) rows.push([mode, l2]); });
      var cell = Math.max(1, Math.min(6, Math.floor(1100 / grad.steps))), rowH = 18;
      var canvas = el("canvas", { width: grad.steps * cell, height: rows.length * rowH,
        attrs: { role: "img", "aria-label": "Heat map of log10 gradient norms; " + grad.fit } });
      var ctx = canvas.getContext("2d");
      rows.forEach(function (row, r) {
        var values = typed(grad[row[0] + "_log10"]), range = gradRange(row[0]);
        for (var t = 0; t < grad.steps; t++) {
          var rgb = colour("sequential", values[row[1] * grad.steps + t], range);
          ctx.fillStyle = rgb ? css(rgb) : "#ffffff";
          ctx.fillRect(t * cell, r * rowH, cell, rowH - 1);
        }
      });
      var labels = el("ol", { className: "help" });
      rows.forEach(function (row, r) {
        labels.append(el("li", { textContent: "row " + (r + 1) + ": layer " + (row[1] + 1) + ", loss at " +
          (row[0] === "every" ? "every character" : "the last character") }));
      });
      var readout = el("p", { className: "readout", attrs: { "aria-live": "polite" } });
      canvas.addEventListener("mousemove", function (event) {
        var box2 = canvas.getBoundingClientRect();
        var t = Math.floor((event.clientX - box2.left) / box2.width * grad.steps);
        var r = Math.floor((event.clientY - box2.top) / box2.height * rows.length);
        if (t < 0 || t >= grad.steps || r < 0 || r >= rows.length) return;
        var v = typed(grad[rows[r][0] + "_log10"])[rows[r][1] * grad.steps + t];
        readout.textContent = "step " + (t + 1) + " " + JSON.stringify(text[t]) + ", layer " + (rows[r][1] + 1) +
          ", loss at " + rows[r][0] + ": ‖∂L/∂h‖ = " + fmt(Math.pow(10, v));
      });
      heat.append(el("p", { className: "help", textContent: DATA.gradflow.note + ". " + grad.fit +
        ". Colour: log₁₀ of the norm, each loss on its own scale; the text can be shaded the same way (Shade by)." }),
        canvas, readout, labels);
    } else {
      heat.append(el("p", { textContent: (DATA.gradflow && DATA.gradflow.note) || "not measured" }));
    }

    var help = el("p", { className: "help", innerHTML:
      "Keys in the text: <kbd>←</kbd> <kbd>→</kbd> <kbd>↑</kbd> <kbd>↓</kbd> move, <kbd>Home</kbd> <kbd>End</kbd> line start and end, " +
      "<kbd>PgUp</kbd> <kbd>PgDn</kbd> 20 lines, <kbd>[</kbd> <kbd>]</kbd> previous and next unit. " +
      "Hover or move onto a character to see what the model predicts next. " +
      "The surprisal of a character is −ln p(character | the text before it)." });
    main.append(controls, el("div", { className: "columns" }, [el("div", null, [box, help]), side]), heat);
    if (DATA.serve) main.append(sampleBox());

    refreshValues();
    updateLegend();
    renderLines(true);
    describe(0);
    // For scripts driving the page (tests, benchmarks): no user-facing behaviour depends on it.
    window.rnnviz = { scrollToChar: scrollToChar, select: select, state: state, lineOf: lineOf,
                      ready: performance.now() };
  }

  // -- serve: stream a sample from the running server
  function sampleBox() {
    var section = el("section", { className: "sample", id: "sample" }, [el("h2", { textContent: "Sample from the model" })]);
    var form = el("form", { id: "sample-form" });
    var prime = el("textarea", { id: "sample-prime", rows: 2, value: "" });
    var fields = [["length", 300, 1], ["temperature", 0.8, 0.05], ["top_k", "", 1], ["top_p", "", 0.05], ["seed", "", 1]];
    form.append(el("label", null, ["Prime ", prime]));
    var inputs = {};
    fields.forEach(function (f) {
      inputs[f[0]] = el("input", { id: "sample-" + f[0], type: "number", value: f[1], step: f[2] });
      form.append(" ", el("label", null, [f[0].replace("_", "-") + " ", inputs[f[0]]]));
    });
    var button = el("button", { type: "submit", textContent: "Sample" });
    var out = el("pre", { id: "sample-out", attrs: { "aria-live": "polite" } });
    var status = el("p", { className: "help", id: "sample-status" });
    form.append(" ", button);
    section.append(form, status, out);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var query = new URLSearchParams({ prime: prime.value });
      for (var key in inputs) if (inputs[key].value !== "") query.set(key, inputs[key].value);
      out.textContent = prime.value; status.textContent = "sampling…"; button.disabled = true;
      fetch("sample?" + query.toString()).then(function (response) {
        if (!response.ok) return response.text().then(function (message) { throw new Error(message); });
        var reader = response.body.getReader(), decoder = new TextDecoder();
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) { status.textContent = "done"; return; }
            out.textContent += decoder.decode(chunk.value, { stream: true });
            return pump();
          });
        }
        return pump();
      }).catch(function (error) { status.textContent = "error: " + error.message; })
        .finally(function () { button.disabled = false; });
    });
    return section;
  }

  // ===========================================================================================
  // Classifier
  // ===========================================================================================
  function classifierView() {
    var labels = DATA.labels;
    var state = { shade: "contribution", label: -1 };
    var controls = el("section", { className: "controls", attrs: { "aria-label": "What to show" } });
    var shadeSelect = el("select", { id: "shade" });
    shadeSelect.append(el("option", { value: "contribution", textContent: "contribution to the class's logit" }));
    if (DATA.pooling === "attention") shadeSelect.append(el("option", { value: "attention", textContent: "attention weight" }));
    var labelSelect = el("select", { id: "label" });
    labelSelect.append(el("option", { value: "-1", textContent: "the predicted class" }));
    labels.forEach(function (label, k) { labelSelect.append(el("option", { value: String(k), textContent: label })); });
    var legendBox = el("span", { id: "legend" });
    controls.append(el("label", null, ["Shade by", shadeSelect]), el("label", null, ["Class", labelSelect]), legendBox);
    var list = el("ol", { className: "examples", id: "examples" });
    document.getElementById("meta").textContent = (DATA.run ? "run " + DATA.run + " · " : "") +
      DATA.examples.length + " texts · " + DATA.pooling + " pooling";

    function draw() {
      list.replaceChildren();
      var attentionMax = 0;
      DATA.examples.forEach(function (ex) { (ex.attention || []).forEach(function (a) { attentionMax = Math.max(attentionMax, a); }); });
      var attentionRange = [0, attentionMax || 1];
      legendBox.replaceChildren(state.shade === "attention" ? legend("sequential", attentionRange, "weight")
                                : legend("diverging", DATA.contribution_range, "logit"));
      DATA.examples.forEach(function (ex, n) {
        var c = state.label < 0 ? ex.predicted : state.label;
        var heading = el("p", null, [el("strong", { textContent: labels[ex.predicted] }),
          " (p = " + ex.probs[ex.predicted].toFixed(3) + ")" +
          (state.label >= 0 && c !== ex.predicted ? "; showing class " + labels[c] + " (p = " + ex.probs[c].toFixed(3) + ")" : "") +
          " · logit " + fmt(ex.logits[c]) + " = bias " + fmt(DATA.bias[c]) + " + the tokens' contributions"]);
        var tokens = el("p", { className: "tokens" });
        ex.tokens.forEach(function (tok, t) {
          var value = state.shade === "attention" ? ex.attention[t] : ex.contributions[c][t];
          var rgb = state.shade === "attention" ? colour("sequential", value, attentionRange)
                    : colour("diverging", value, DATA.contribution_range);
          var description = tok + ": contribution " + fmt(ex.contributions[c][t]) +
            (ex.attention ? ", attention " + fmt(ex.attention[t]) : "") + (ex.known[t] ? "" : " (unknown word)");
          var span = el("span", { className: "tok" + (ex.known[t] ? "" : " unk"), textContent: tok, tabIndex: 0,
                                  id: "tok-" + n + "-" + t, attrs: { "aria-label": description } });
          span.dataset.contribution = ex.contributions[c][t];
          span.style.backgroundColor = css(rgb);
          span.addEventListener("mouseenter", function () { showTooltip(span, [el("span", { textContent: description })]); });
          span.addEventListener("focus", function () { showTooltip(span, [el("span", { textContent: description })]); });
          span.addEventListener("mouseleave", hideTooltip);
          span.addEventListener("blur", hideTooltip);
          tokens.append(span, " ");
        });
        list.append(el("li", { className: "example" }, [heading, tokens]));
      });
    }
    shadeSelect.addEventListener("change", function () { state.shade = shadeSelect.value; draw(); });
    labelSelect.addEventListener("change", function () { state.label = +labelSelect.value; draw(); });
    main.append(controls, el("p", { className: "help", textContent:
      "A token's contribution is the part of the class's logit that its encoder output adds through the " +
      DATA.pooling + " pooling; the contributions and the bias add up to the logit. Dashed: a word the model never saw (read as <unk>)." }), list);
    draw();
  }

  // ===========================================================================================
  // Tagger
  // ===========================================================================================
  function taggerView() {
    var controls = el("section", { className: "controls", attrs: { "aria-label": "What to show" } });
    var onlyErrors = el("input", { type: "checkbox", id: "only-errors" });
    controls.append(el("label", null, [onlyErrors, "only sentences with errors"]),
                    legend("sequential", [0, 1], "confidence"));
    var scored = DATA.scored;
    document.getElementById("meta").textContent = (DATA.run ? "run " + DATA.run + " · " : "") +
      DATA.sentences.length + " sentences" + (scored ? " · " + (scored - DATA.errors) + " of " + scored +
      " tags correct (" + (100 * (scored - DATA.errors) / scored).toFixed(2) + "%)" : " · no gold tags");
    var list = el("div", { id: "sentences" });
    function draw() {
      list.replaceChildren();
      DATA.sentences.forEach(function (s, n) {
        var wrong = s.gold ? s.words.filter(function (_, k) { return s.gold[k] !== s.predicted[k]; }).length : 0;
        if (onlyErrors.checked && !wrong) return;
        var box = el("div", { className: "sentence", attrs: { role: "group", "aria-label": "sentence " + (n + 1) +
          (s.gold ? ", " + wrong + " errors" : "") } });
        var key = el("div", { className: "word key", attrs: { "aria-hidden": "true" } },
                     [el("span", { className: "form", textContent: "word" })]);
        if (s.gold) key.append(el("span", { className: "tag", textContent: "gold" }));
        key.append(el("span", { className: "tag", textContent: "predicted" }));
        box.append(key);
        s.words.forEach(function (w, k) {
          var error = s.gold && s.gold[k] !== s.predicted[k];
          var label = w + ": predicted " + s.predicted[k] + " (p = " + s.confidence[k].toFixed(3) + ")" +
            (s.gold ? ", gold " + s.gold[k] + (error ? ", an error" : "") : "") + (s.oov[k] ? ", unseen in training" : "");
          var word = el("div", { className: "word" + (error ? " error" : ""), tabIndex: 0,
                                 id: "word-" + n + "-" + k, attrs: { "aria-label": label, title: label } });
          word.style.backgroundColor = css(colour("sequential", s.confidence[k], [0, 1]));
          word.append(el("span", { className: "form", textContent: w }));
          if (s.gold) word.append(el("span", { className: "tag gold", textContent: s.gold[k] }));
          word.append(el("span", { className: "tag pred", textContent: s.predicted[k] }));
          if (s.oov[k]) word.append(el("span", { className: "oov", textContent: "unseen" }));
          box.append(word);
        });
        list.append(box);
      });
    }
    onlyErrors.addEventListener("change", draw);
    main.append(controls, el("p", { className: "help", textContent:
      "Each word: its form, the gold tag (when the input has one), the predicted tag; shaded by the probability of the predicted tag. " +
      "Errors have a red frame and ✗." }), list);
    draw();
  }

  header();
  ({ char_lm: lmView, classifier: classifierView, tagger: taggerView }[DATA.kind])();
})();

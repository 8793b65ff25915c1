// Word attributions: each word's effect on a text's score, by leaving it out: the algorithm of the Python
// runtime's Predictor.explain (src/edge_sentiment/runtime/explain.py), on the text model.
// 1. The words are the runs of characters that are not WHITESPACE, each with its span [start, end).
// 2. Word i's variant is the text without its span and the whitespace run right after it (or, when none
//    follows, the run right before it).
// 3. The original and every examined word's variant are scored as one batch through the same session and
//    calibration as predict; a variant whose ids (the graph's tokens) equal the original's gets effect
//    exactly 0, and variants with equal ids share the first one's score.
// 4. effect = score(original) - score(variant), on the shown score: the positive probability (two labels),
//    else the predicted class's probability (multi-label: the most probable label's).
// 5. Only maxWords words are examined (default: the manifest's max_len), the last ones (a text model keeps a
//    long text's last words). The words the model does not read (the text without them gives the same ids;
//    searched outward from the examined words, doubling, then by halves) get effect 0; any it may read that
//    were not examined get null, and .note says how many.
// Where a long text has words the model does not read, each variant is given from SLACK_WORDS words before the first
// one it reads (the same ids, checked: a cut variant with fewer than max_len ids is given whole).
// Spans are UTF-16 offsets (text.slice(start, end) is the word); Python's are code point offsets.
import { InputError } from "./errors.js";
import { codePoints } from "./window.js";

// Whitespace as both Python's str.isspace and JavaScript's \s see it (their common part): runtime/explain.py's WHITESPACE.
export const WHITESPACE = "\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const WORD = new RegExp(`[^${WHITESPACE}]+`, "g");
const SPACE = new RegExp(`[${WHITESPACE}]+`, "y");
/** The longest text explained (the text model's limit too): every word is listed. */
export const MAX_EXPLAIN_CHARS = 1 << 20;

const count = (value, name, low) => {
  if (!Number.isSafeInteger(value) || value < low) throw new InputError(`${name} must be a whole number of at least ${low}, got ${JSON.stringify(value) ?? String(value)}`);
  return value;
};

/** The spans [start, end) of a text's words. */
export function wordSpans(text) {
  return Array.from(text.matchAll(WORD), (m) => [m.index, m.index + m[0].length]);
}

/** The text without word i: its span and the whitespace run right after it, else the run right before it. */
export function without(text, spans, i) {
  let [start, end] = spans[i];
  SPACE.lastIndex = end;
  if (SPACE.test(text)) end = SPACE.lastIndex;
  else start = i > 0 ? spans[i - 1][1] : 0;
  return text.slice(0, start) + text.slice(end);
}

/** How many words before the first one the model reads each variant keeps (a removed word's tokens are replaced from them). */
const SLACK_WORDS = 16;
const sameIds = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const words = (n) => `${n.toLocaleString("en")} word${n === 1 ? "" : "s"}`;

/**
 * The first word the model may read: the first j whose part of the text (from word j on) still gives the text's ids,
 * searched outward from `edge` (the first examined word) in doubling steps, then by halves (runtime/explain.py _read_words).
 */
async function firstReadWord(model, text, spans, original, edge) {
  const same = async (j) => sameIds((await model.run([text.slice(spans[j][0])])).ids[0], original);
  let step = 1;
  let good = edge;
  let bad = null;
  while (!(await same(good))) {
    bad = good;
    good = Math.max(0, good - step);
    step *= 2;
    if (good === 0) break; // the whole text: the same ids by definition
  }
  while (bad !== null && Math.abs(good - bad) > 1) {
    const middle = Math.floor((good + bad) / 2);
    if (await same(middle)) good = middle;
    else bad = middle;
  }
  return good;
}

/** Each word's effect on the model's score for `text` (the file's header says how); `options`: { top = 5, maxWords = max_len }. */
export async function explain(model, text, options = {}) {
  const started = performance.now();
  if (typeof text !== "string") throw new InputError(`explain takes one text (a string), got ${Array.isArray(text) ? "an array" : typeof text}; call it once per text`);
  const given = options ?? {};
  const unknown = Object.keys(given).filter((key) => !["top", "maxWords"].includes(key));
  if (unknown.length) throw new InputError(`explain has no option ${unknown.map((k) => JSON.stringify(k)).join(", ")}; its options are top and maxWords`);
  const top = count(given.top ?? 5, "top", 0);
  const limit = given.maxWords === undefined ? model.maxLen : count(given.maxWords, "maxWords", 1);
  if (text.length > MAX_EXPLAIN_CHARS && codePoints(text) > MAX_EXPLAIN_CHARS) {
    const max = MAX_EXPLAIN_CHARS.toLocaleString("en");
    throw new InputError(
      `explain lists every word of a text and takes at most ${max} characters; this one has ${codePoints(text).toLocaleString("en")}: ` +
        `explain the part you want explained (the model reads only ${model.maxLen} words of it)`,
    );
  }
  const spans = wordSpans(text);
  const lo = Math.max(0, spans.length - limit);
  const hi = spans.length;
  // words before `read` are not read by the model: the variants are given from a few words before it on (far less
  // for the graph to do); a cut variant that gives fewer than max_len ids may have lost some, and is given whole
  let read = 0;
  let from = 0;
  if (lo > 0) {
    read = await firstReadWord(model, text, spans, (await model.run([text])).ids[0], lo);
    from = Math.max(0, read - SLACK_WORDS);
  }
  const offset = from > 0 ? spans[from][0] : 0;
  const tail = text.slice(offset);
  const tailSpans = spans.slice(from).map(([start, end]) => [start - offset, end - offset]);
  const batch = [text];
  for (let i = lo; i < hi; i++) batch.push(without(tail, tailSpans, i - from));
  const { scores, ids } = await model.run(batch);
  const whole = from > 0 ? ids.flatMap((row, r) => (r > 0 && row.length < model.maxLen ? [r] : [])) : [];
  if (whole.length) {
    const again = await model.run(whole.map((r) => without(text, spans, lo + r - 1)));
    whole.forEach((r, k) => ((scores[r] = again.scores[k]), (ids[r] = again.ids[k])));
  }
  const rows = scores.map((s) => (typeof s === "number" ? s : null));
  const [shown] = model.decision.predictions(scores.slice(0, 1), model.labels);
  if (rows[0] === null) {
    const k = scores[0].indexOf(shown.score);
    scores.forEach((row, r) => (rows[r] = row[k]));
  }
  const base = rows[0];
  const effects = new Array(spans.length).fill(null);
  let note = null;
  if (lo > 0) {
    effects.fill(0, 0, read);
    const notes = [];
    if (read > 0) notes.push(`${words(read)} at the text's start are not read by the tokenizer (it keeps ${model.maxLen} tokens): effect 0`);
    if (lo > read) notes.push(`${words(lo - read)} the tokenizer may read were not examined (maxWords ${limit}): effect null; raise maxWords to examine them`);
    note = notes.join("; ");
  }
  // unchanged ids: effect 0; equal ids: the first such variant's score, as if scored once
  const seen = new Map();
  let unchanged = 0;
  for (let i = lo; i < hi; i++) {
    const row = 1 + i - lo;
    if (sameIds(ids[row], ids[0])) {
      effects[i] = 0;
      unchanged++;
      continue;
    }
    const key = ids[row].join(",");
    if (!seen.has(key)) seen.set(key, row);
    effects[i] = base - rows[seen.get(key)];
  }
  const listed = spans.map(([start, end], i) => ({ word: text.slice(start, end), start, end, effect: effects[i] }));
  const ranked = listed.filter((w) => w.effect);
  const topPositive = ranked.filter((w) => w.effect > 0).sort((a, b) => b.effect - a.effect || a.start - b.start);
  const topNegative = ranked.filter((w) => w.effect < 0).sort((a, b) => a.effect - b.effect || a.start - b.start);
  if (!spans.length) note = "the text has no words: nothing to leave out";
  const explanation = {
    text,
    label: shown.label,
    score: base,
    towards: model.classes === 1 ? model.labels[1] : shown.label,
    words: listed,
    topPositive: topPositive.slice(0, top),
    topNegative: topNegative.slice(0, top),
    variants: seen.size,
    examined: hi - lo,
    unchanged,
    ms: performance.now() - started,
    note,
  };
  if (shown.probabilities) explanation.probabilities = shown.probabilities;
  if (shown.labels) explanation.labels = shown.labels;
  return explanation;
}

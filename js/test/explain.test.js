// TextModel.explain in Node against the Python runtime's Predictor.explain (runtime/explain.py, the same
// algorithm): the same words, spans, effects (|d| <= 2e-6), tops, counts and notes, on the default bundle
// and on a calibrated copy of the tiny one; empty, one-word, whitespace-only and long texts; one batch
// through the session; and bad options refused naming themselves.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { InputError, MAX_EXPLAIN_CHARS, loadBundle, without, wordSpans } from "edge-sentiment";
import { BUNDLES } from "./bundles.js";
import { NO_PYTHON, bundleWith, pythonRuntime } from "./hostile.js";

let work;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "edge-sentiment-explain-"));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

const REVIEW = "A wonderful, moving film. The plot was dull but the acting was great!";
const TEXTS = [
  REVIEW,
  "The movie was  wonderful, a loved story\n but the ending dull",
  "", // no words
  "  \n\t ", // whitespace only
  "wonderful", // one word
  "  great film  ", // whitespace at both ends
  "good\u00a0good\u3000bad — !!! <br /> 😀 film😀 \ufeffdull", // NBSP and ideographic space split words, U+FEFF does not; astral characters
  "bad ".repeat(30) + "a wonderful film, great acting, good music and a fine story ".repeat(5), // more words than the tiny bundle's 40
  // a 30-token word among the last ones: without it the model reads 30 words further back than the cut variants hold
  "dull ".repeat(100) + Array(30).fill("good").join("-") + " film".repeat(10),
];

/** Python's explanation with code point spans turned into this string's UTF-16 offsets. */
function toUtf16(text, explanation) {
  const units = [0];
  for (const ch of text) units.push(units.at(-1) + ch.length);
  const word = (w) => ({ ...w, start: units[w.start], end: units[w.end] });
  return { ...explanation, words: explanation.words.map(word), top_positive: explanation.top_positive.map(word), top_negative: explanation.top_negative.map(word) };
}

function same(js, py, what, tolerance) {
  assert.equal(js.label, py.label, what);
  assert.ok(Math.abs(js.score - py.score) <= tolerance, `${what}: score ${js.score} vs ${py.score}`);
  assert.equal(js.towards, py.towards, what);
  assert.deepEqual(js.words.map((w) => [w.word, w.start, w.end]), py.words.map((w) => [w.word, w.start, w.end]), what);
  js.words.forEach((w, i) => {
    const want = py.words[i].effect;
    if (want === null) assert.equal(w.effect, null, `${what}: word ${i}`);
    else assert.ok(Math.abs(w.effect - want) <= tolerance, `${what}: word ${i} ${w.word}: ${w.effect} vs ${want}`);
    if (want === 0) assert.equal(w.effect, 0, `${what}: word ${i} is unchanged in both`);
  });
  for (const side of ["Positive", "Negative"]) {
    const mine = js[`top${side}`].map((w) => w.start);
    const theirs = py[`top_${side.toLowerCase()}`].map((w) => w.start);
    assert.deepEqual(mine, theirs, `${what}: top ${side}`);
  }
  assert.deepEqual([js.variants, js.examined, js.unchanged], [py.variants, py.examined, py.unchanged], what);
  assert.equal(js.note === null, py.note === null, `${what}: note ${js.note} vs ${py.note}`);
  // the notes say the same counts (their words name each language's option and null)
  if (py.note) assert.deepEqual(js.note.match(/\d[\d,]*/g), py.note.match(/\d[\d,]*/g), `${what}: ${js.note} vs ${py.note}`);
}

test("explain gives Python's Predictor.explain words, spans, effects and tops, on the default bundle and a calibrated tiny one", { skip: NO_PYTHON, timeout: 300_000 }, async () => {
  const calibrated = await bundleWith(join(work, "calibrated"), null, (m) => ({ ...m, calibration: { temperature: 0.7, bias: 0.2 }, uncertain: { low: 0.45, high: 0.55 } }));
  const runs = [
    [BUNDLES.default, TEXTS.slice(0, 7), {}],
    [calibrated, TEXTS, { top: 3 }],
    [calibrated, [TEXTS[7]], { maxWords: 10, top: 2 }],
    [calibrated, [TEXTS[8]], { maxWords: 11 }], // a cut variant given whole
    [calibrated, [TEXTS[1]], { maxWords: 4, top: 0 }],
  ];
  const seen = { unchanged: 0, notes: new Set(), nulls: 0 };
  for (const [bundle, texts, options] of runs) {
    const model = await loadBundle(bundle, { ort });
    const pyOptions = { top: options.top ?? 5, ...(options.maxWords ? { max_words: options.maxWords } : {}) };
    for (const [k, text] of texts.entries()) {
      const py = toUtf16(text, pythonRuntime({ job: "explain", bundle, text, options: pyOptions }));
      const js = await model.explain(text, options);
      same(js, py, `${bundle === calibrated ? "calibrated tiny" : "default"} text ${k} ${JSON.stringify(options)}`, 2e-6);
      js.words.forEach((w) => assert.equal(text.slice(w.start, w.end), w.word));
      seen.unchanged += py.unchanged;
      seen.nulls += py.words.filter((w) => w.effect === null).length;
      if (py.note) seen.notes.add(py.note.replace(/\d[\d,]*/g, "N"));
    }
    await model.release();
  }
  // the comparison covered each case: words the model drops, words it never reads, words not examined, no words
  assert.ok(seen.unchanged > 0 && seen.nulls > 0);
  assert.equal(seen.notes.size, 4, [...seen.notes].join(" | ")); // no words; words not read; not examined; both
});

test("explain scores the original and every variant as one batch, and its effects are score differences", { timeout: 120_000 }, async () => {
  const model = await loadBundle(BUNDLES.default, { ort });
  const batches = [];
  const run = model.run.bind(model);
  model.run = (texts) => (batches.push(texts), run(texts));
  const e = await model.explain(REVIEW);
  assert.equal(batches.length, 1);
  // a long text: its ids, the search for the first word read, then one batch of cut variants; a cut variant that
  // lost ids (the 30-token word's) is given whole in one more batch
  const tiny = await loadBundle(BUNDLES.tiny, { ort }); // max_len 40
  const tinyRun = tiny.run.bind(tiny);
  const tinyBatches = [];
  tiny.run = (texts) => (tinyBatches.push(texts), tinyRun(texts));
  const long = await tiny.explain(TEXTS[8], { maxWords: 11 });
  const sizes = tinyBatches.map((b) => b.length);
  assert.equal(sizes.at(-2), 12, sizes.join(","));
  assert.equal(sizes.at(-1), 1, sizes.join(",")); // the variant without the 30-token word, whole
  assert.equal(tinyBatches.at(-1)[0], without(TEXTS[8], wordSpans(TEXTS[8]), 100));
  assert.ok(tinyBatches.at(-2).slice(1).every((v) => v.length < 300), "the variants were cut");
  assert.ok(long.words.slice(0, 100).every((w) => w.effect === 0), long.note);
  assert.equal(long.note, "100 words at the text's start are not read by the tokenizer (it keeps 40 tokens): effect 0");
  tiny.run = tinyRun;
  const [withWord, withoutWord] = await tiny.predictProba([TEXTS[8], without(TEXTS[8], wordSpans(TEXTS[8]), 100)]);
  assert.ok(Math.abs(long.words[100].effect - (withWord - withoutWord)) <= 1e-6);
  await tiny.release();
  const spans = wordSpans(REVIEW);
  assert.deepEqual(batches[0], [REVIEW, ...spans.map((_, i) => without(REVIEW, spans, i))]);
  assert.equal(without(REVIEW, spans, 1), "A moving film. The plot was dull but the acting was great!");
  assert.equal(without(REVIEW, spans, spans.length - 1), "A wonderful, moving film. The plot was dull but the acting was");
  model.run = run;
  const scores = await model.predictProba(batches[0]);
  e.words.forEach((w, i) => assert.ok(Math.abs(w.effect - (scores[0] - scores[i + 1])) <= 1e-6, w.word));
  assert.equal(e.label, "positive");
  assert.deepEqual(e.topNegative.map((w) => w.word).slice(0, 1), ["dull"]);
  assert.ok(e.topPositive.map((w) => w.word).includes("wonderful,"));
  assert.ok(e.ms > 0);
  await model.release();
});

test("explain refuses bad options and texts, naming them", { timeout: 60_000 }, async () => {
  const model = await loadBundle(BUNDLES.tiny, { ort });
  const cases = [
    [["a film", { top: -1 }], /^top must be a whole number of at least 0, got -1$/],
    [["a film", { top: 1.5 }], /^top must be a whole number of at least 0, got 1\.5$/],
    [["a film", { maxWords: 0 }], /^maxWords must be a whole number of at least 1, got 0$/],
    [["a film", { max_words: 3 }], /^explain has no option "max_words"; its options are top and maxWords$/],
    [[["a film"]], /^explain takes one text \(a string\), got an array; call it once per text$/],
    [["a".repeat(MAX_EXPLAIN_CHARS + 1)], /^explain lists every word of a text and takes at most 1,048,576 characters; this one has 1,048,577/],
  ];
  for (const [args, message] of cases) await assert.rejects(model.explain(...args), (e) => e instanceof InputError && message.test(e.message));
  // 1 Mi characters in code points, not UTF-16 units: 600,000 emoji are 1.2 M units but 600,000 characters
  const emoji = await model.explain("😀".repeat(600_000) + " good film");
  assert.equal(emoji.words.length, 3);
  await model.release();
});

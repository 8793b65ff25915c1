// The decision layer in Node, against the Python runtime (js/test/python_runtime.py): a copy of the tiny
// bundle given a calibration, a threshold and an uncertain band in its manifest scores and labels its texts
// as Python's Predictor and TextModel do; the formula's edge cases equal runtime/decision.py's; bad fields are
// refused before any session with runtime/bundle.py's words; and long texts are cut, or refused, as
// Python's TextModel cuts and refuses them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { BundleError, CLIP, checkConformance, loadConformance, Decision, InputError, MAX_IDS_PER_TEXT, MAX_TEXT_CHARS, decisionProblems, loadBundle, textWindow } from "edge-sentiment";
import { NO_PYTHON, PYTHON, TINY, bundleWith, pythonRuntime } from "./hostile.js";

let work;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "edge-sentiment-decision-"));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

const texts = async () => (await readFile(join(TINY, "conformance.jsonl"), "utf8")).split("\n").filter(Boolean).map((line) => JSON.parse(line).text);
const close = (a, b, tol, what) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test("a calibrated bundle with an uncertain band gives the Python runtime's probabilities (|d| <= 1e-6 against TextModel) and labels", { skip: NO_PYTHON, timeout: 180_000 }, async () => {
  const probe = [...(await texts()), "", "a", "good good good", "bad bad bad bad"];
  for (const [name, calibration, band] of [
    ["warm", { temperature: 2.5, bias: 0.3 }, { low: 0.4, high: 0.6 }],
    ["sharp", { temperature: 0.4, bias: -0.8 }, { low: 0.3, high: 0.55, label: "unsure" }],
  ]) {
    const dir = await bundleWith(join(work, name), null, (m) => ({ ...m, calibration, threshold: 0.5, uncertain: band }));
    const py = pythonRuntime({ job: "predict", bundle: dir, texts: probe });
    const model = await loadBundle(dir, { ort });
    const raw = await loadBundle(dir, { ort, calibrated: false });
    const scores = await model.predictProba(probe);
    const rawScores = await raw.predictProba(probe);
    const predictions = await model.predict(probe);
    let moved = 0;
    const worst = { textModel: 0, predictor: 0 };
    probe.forEach((text, i) => {
      // the same graph as Python's TextModel: only the formula's float64 rounding may differ
      close(scores[i], py.text_model[i], 1e-6, `${name} text ${i}, TextModel`);
      // Predictor runs model.onnx on Python's tokenizer (the two agree to ~1e-7 before calibration, which
      // a temperature over 1 stretches near 0 and 1): the bundle's parity tolerance
      close(scores[i], py.predictor[i], 1e-5, `${name} text ${i}, Predictor`);
      worst.textModel = Math.max(worst.textModel, Math.abs(scores[i] - py.text_model[i]));
      worst.predictor = Math.max(worst.predictor, Math.abs(scores[i] - py.predictor[i]));
      assert.equal(predictions[i].label, py.labels[i], `${name} text ${i}: ${scores[i]}`);
      assert.equal(predictions[i].score, scores[i]);
      assert.equal(scores[i], Math.fround(scores[i]), "a float32 result");
      if (Math.abs(scores[i] - rawScores[i]) > 0.01) moved++;
    });
    // the check means something: calibration moved the scores, and every label of the band was given
    assert.ok(moved > probe.length / 2, `${name}: calibration moved only ${moved} scores`);
    // the conformance vectors hold the model's own scores: a calibrated model passes them through runModel
    const vectors = await loadConformance(dir, model.manifest);
    const conformance = await checkConformance(model, vectors, 50);
    assert.ok(conformance.passed && conformance.identical === 200, JSON.stringify(conformance.firstFailure));
    const label = band.label ?? "uncertain";
    assert.deepEqual([...new Set(predictions.map((p) => p.label))].sort(), ["negative", "positive", label].sort());
    predictions.forEach((p) => assert.equal(p.label, p.score >= band.high ? "positive" : p.score < band.low ? "negative" : label));
    console.log(`# ${name} (T ${calibration.temperature}, b ${calibration.bias}): ${probe.length} texts, max |d| ${worst.textModel.toExponential(1)} vs TextModel, ${worst.predictor.toExponential(1)} vs Predictor; labels equal`);
    await model.release();
    await raw.release();
  }
});

test("the calibration formula equals runtime/decision.py's at the edges: 0, 1, the clip, softmax and multi-label rows", { skip: NO_PYTHON, timeout: 60_000 }, () => {
  const edges = [0, 1e-12, CLIP, 2e-7, 1e-4, 0.25, 0.5, 0.75, 0.9999, Math.fround(1 - 1e-7), Math.fround(1 - 6e-8), 1].map(Math.fround);
  const cases = [
    [{ model: { classes: 1 }, calibration: { temperature: 2.5, bias: 0.3 } }, edges],
    [{ model: { classes: 1 }, calibration: { temperature: 0.01, bias: -100 } }, edges],
    [{ model: { classes: 1 }, calibration: { temperature: 100, bias: 100 } }, edges],
    [{ model: { classes: 3 }, calibration: { temperature: 0.3 } }, [[0, 0, 1], [0.2, 0.3, 0.5], [1e-9, 0.5, 0.5], [0.98, 0.01, 0.01]].map((r) => r.map(Math.fround))],
    [{ model: { classes: 3, head: "multi-label" }, calibration: { temperature: 1.7, bias: -0.4 } }, [[0, 0.5, 1], [0.2, 0.9, 1e-5]].map((r) => r.map(Math.fround))],
  ];
  let exact = 0;
  let all = 0;
  for (const [manifest, scores] of cases) {
    const want = pythonRuntime({ job: "calibrate", manifest, scores });
    const decision = Decision.fromManifest(manifest);
    const got = scores.map((s) => (typeof s === "number" ? decision.calibrateOne(s) : decision.calibrateRow(s)));
    got.flat().forEach((g, i) => {
      const w = want.flat()[i];
      close(g, w, 1e-6, `${JSON.stringify(manifest.calibration)} score ${i}`);
      assert.ok(Number.isFinite(g) && g === Math.fround(g));
      exact += g === w;
      all++;
    });
  }
  assert.ok(exact >= all - 2, `only ${exact} of ${all} calibrated values are identical to Python's float32`);
  // T = 1, b = 0 is the identity: the model's own float32, untouched
  assert.equal(Decision.fromManifest({ model: {}, calibration: { temperature: 1, bias: 0 } }).calibrateOne(0.123), 0.123);
});

const BAD = [
  { calibration: { temperature: "2" } },
  { calibration: 2 },
  { calibration: { temperature: 0.001 } },
  { calibration: { temperature: 2, bias: null } },
  { calibration: { temperature: 2, bias: 101 } },
  { calibration: { temperature: true } },
  { uncertain: { low: 0.6, high: 0.4 } },
  { uncertain: { low: 0.4, high: 0.4 } },
  { uncertain: { low: 0, high: 0.6 } },
  { uncertain: { low: 0.3, high: 0.45 } },
  { uncertain: { low: 0.3, high: 0.7, label: "positive" } },
  { uncertain: { low: 0.3, high: 0.7, label: "  " } },
  { uncertain: [0.3, 0.7] },
  { calibration: { temperature: 0 }, uncertain: { low: "0.3", high: 0.7 } },
];

test("bad calibration and uncertain fields are refused before any session, in runtime/bundle.py's words", { skip: NO_PYTHON, timeout: 120_000 }, async () => {
  const manifest = JSON.parse(await readFile(join(TINY, "manifest.json"), "utf8"));
  const softmax = { ...manifest, model: { ...manifest.model, classes: 3 }, labels: ["a", "b", "c"] };
  const all = [
    ...BAD.map((edit) => ({ ...manifest, ...edit })),
    { ...softmax, calibration: { temperature: 2, bias: 0.5 } },
    { ...softmax, uncertain: { low: 0.3, high: 0.7 } },
    { ...manifest, calibration: { temperature: 2, bias: -1 }, uncertain: { low: 0.3, high: 0.7, label: "maybe" } },
  ];
  const py = pythonRuntime({ job: "problems", manifests: all });
  const js = all.map((m) => decisionProblems(m, m.model.head ?? ((m.model.classes ?? 1) === 1 ? "sigmoid" : "softmax")));
  assert.deepEqual(js, py);
  assert.deepEqual(js.at(-1), [], "a good decision is accepted");
  assert.ok(js.slice(0, -1).every((problems) => problems.length > 0));
  assert.equal(js.at(-4).length, 2, "every problem is named at once");
  // and loadBundle refuses each before a session, naming the field
  let sessions = 0;
  const spy = { ...ort, InferenceSession: { create: async (...args) => (sessions++, ort.InferenceSession.create(...args)) } };
  for (const [k, edit] of BAD.entries()) {
    const dir = await bundleWith(join(work, `bad-${k}`), null, (m) => ({ ...m, ...edit }));
    await assert.rejects(loadBundle(dir, { ort: spy }), (e) => e instanceof BundleError && e.message.includes(py[k].join("; ")) && /re-export the bundle$/.test(e.message));
  }
  assert.equal(sessions, 0);
  const noMaxLen = await bundleWith(join(work, "max-len"), null, (m) => ({ ...m, model: { ...m.model, max_len: 0 } }));
  await assert.rejects(loadBundle(noMaxLen, { ort: spy }), /model max_len 0 is not a whole number from 1 to 100000/);
  await assert.rejects(loadBundle(TINY, { ort, calibrated: "no" }), (e) => e instanceof TypeError && /calibrated option is true or false, not "no"/.test(e.message));
});

test("the limits are the Python runtime's", { skip: NO_PYTHON }, () => {
  const run = spawnSync(PYTHON, ["-c", "import json\nfrom edge_sentiment.runtime import decision, textmodel, tokenizer_base\nprint(json.dumps([decision.CLIP, textmodel.MAX_TEXT_CHARS, tokenizer_base.MAX_IDS_PER_TEXT]))"], { encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), [CLIP, MAX_TEXT_CHARS, MAX_IDS_PER_TEXT]);
});

/** A deterministic random text of `words` words from `alphabet` pieces, joined by `gaps`. */
function randomText(seed, words, alphabet, gaps) {
  let state = seed;
  const next = (n) => ((state = (state * 1103515245 + 12345) % 2147483648), state % n);
  const parts = [];
  for (let i = 0; i < words; i++) parts.push(alphabet[next(alphabet.length)].repeat(1 + next(4)), gaps[next(gaps.length)]);
  return parts.join("");
}

test("a long text's window is Python's text_window, to the character: astral characters, Python's whitespace, tags, no place to cut", { skip: NO_PYTHON, timeout: 120_000 }, () => {
  const alphabet = ["film", "Good", "ΣΑΣ", "don't", "😀", "ﬁ", "x\u0301", "<br />", "<i>", "’s", "9", "İ", "ÉCOLE", "\u{1d400}", "a_b", "<", ">", "="];
  const gaps = [" ", "  ", "\n", ". ", ", ", "\u00a0", "\x1c", "\x85", "\ufeff", "\u3000", "-", "", "'", "!"];
  const cases = [];
  for (let seed = 1; seed <= 12; seed++) cases.push(randomText(seed, 6000 + 900 * seed, alphabet, gaps));
  cases.push("😀".repeat(9000) + " a good film"); // 9,011 code points in 18,011 UTF-16 units: short for Python
  cases.push("😀 ".repeat(9000)); // 18,000 code points, no words
  cases.push("a".repeat(40_000) + " good film " + "b".repeat(30_000)); // fewer words than n
  cases.push("word ".repeat(30_000) + "x".repeat(70_000)); // a last word longer than the first chunk
  for (const n of [1, 7, 40]) {
    const want = pythonRuntime({ job: "window", texts: cases, n });
    cases.forEach((text, i) => {
      const got = textWindow(text, n);
      assert.ok(got === want[i], `case ${i}, n ${n}: JS kept ${got.length} UTF-16 units, Python ${want[i].length}`);
    });
    assert.ok(want.some((w, i) => w.length < cases[i].length), "some texts were cut");
  }
});

test("the text model cuts a long text to its last max_len words, and refuses one with no place to cut, as Python's TextModel does", { skip: NO_PYTHON, timeout: 180_000 }, async () => {
  const model = await loadBundle(TINY, { ort });
  const long = "a dull film. ".repeat(40_000) + "a wonderful, great film with a good story ".repeat(30); // 521,260 characters
  const noCut = "a".repeat(MAX_TEXT_CHARS + 7) + " good film"; // the last words need the whole 1 Mi+ characters
  const fits = "b".repeat(MAX_TEXT_CHARS - 20) + " good film"; // under the cap: given whole
  const py = pythonRuntime({ job: "refuse", bundle: TINY, texts: [long, noCut, fits] });
  const t = performance.now();
  const { scores, ids } = await model.run([long]);
  const ms = performance.now() - t;
  assert.deepEqual(ids[0], py[0].ids);
  close(scores[0], py[0].score, 1e-6, "long text");
  assert.equal(ids[0].length, model.maxLen);
  assert.ok(textWindow(long, model.maxLen).length <= 16_384, "the graph was given the end, not the whole text");
  // the same text whole through the graph (no cap) gives the same ids: the cut changed no word
  const whole = await model.session.run({ text: new ort.Tensor("string", [long], [1]) });
  assert.deepEqual(Array.from(whole.tokens.data).filter(Boolean).map(Number), ids[0]);
  assert.match(py[1].error, /text 0 is 1,048,593 characters long and its last 40 words are not within its last 1,048,576/);
  for (const batch of [[noCut], ["fine", noCut]]) {
    const k = batch.length - 1;
    await assert.rejects(
      model.predict(batch),
      (e) => e instanceof InputError && new RegExp(`^text ${k} is 1,048,593 characters long and its last 40 words are not within its last 1,048,576 \\(too few words, or no space or punctuation to cut at\\); the text model takes at most 1,048,576 characters a text`).test(e.message),
    );
  }
  const [fitScore] = await model.predictProba([fits]);
  close(fitScore, py[2].score, 1e-6, "a text just under the cap");
  await assert.rejects(model.predict(["ok", "\ud800 lone"]), (e) => e instanceof InputError && /^text 1 holds a lone surrogate/.test(e.message));
  console.log(`# a 521,260-character text scored in ${ms.toFixed(1)} ms through its window`);
  await model.release();
});

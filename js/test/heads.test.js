// A multi-label bundle (Dense(k, sigmoid), manifest model.head "multi-label") scored in Node: every label
// at or over the threshold, the same probabilities and labels as the Python runtime. The bundle is built
// here by js/test/multilabel_bundle.py with the project's Python (a tiny Keras model, exported by the CLI).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { BundleError, loadBundle } from "edge-sentiment";
import { NO_PYTHON, PYTHON, pythonRuntime } from "./hostile.js";

const HERE = dirname(fileURLToPath(import.meta.url));
let work;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "edge-sentiment-heads-"));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

test("a multi-label bundle gives every label over its threshold, as the Python runtime does", { skip: NO_PYTHON, timeout: 300_000 }, async () => {
  const made = spawnSync(PYTHON, [join(HERE, "multilabel_bundle.py"), work], { encoding: "utf8", timeout: 280_000 });
  assert.equal(made.status, 0, made.stderr.slice(-3000));
  const expected = JSON.parse(await readFile(join(work, "expected.json"), "utf8"));
  const model = await loadBundle(join(work, "bundle"), { ort });
  assert.equal(model.head, "multi-label");
  const predictions = await model.predict(expected.texts);
  predictions.forEach((prediction, i) => {
    const want = expected.predictions[i];
    prediction.probabilities.forEach((p, k) => assert.ok(Math.abs(p - want.probabilities[k]) <= 1e-5, `text ${i}, label ${k}`));
    assert.deepEqual(prediction.labels, want.labels);
    assert.deepEqual(prediction.labels, model.labels.filter((_, k) => prediction.probabilities[k] >= model.threshold));
  });
  const counts = new Set(predictions.map((p) => p.labels.length));
  assert.ok(counts.size > 1, "the texts must hold different numbers of labels for the check to mean something");
  // explain on a multi-label bundle: the most probable label's probability, as Python's Predictor.explain computes it
  const text = expected.texts[2];
  const py = pythonRuntime({ job: "explain", bundle: join(work, "bundle"), text, options: { top: 2 } });
  const js = await model.explain(text, { top: 2 });
  assert.equal(js.label, py.label);
  assert.equal(js.towards, py.towards);
  assert.deepEqual(js.labels, py.labels);
  assert.ok(Math.abs(js.score - py.score) <= 1e-5);
  js.words.forEach((w, i) => assert.ok(Math.abs(w.effect - py.words[i].effect) <= 1e-5, `${w.word}: ${w.effect} vs ${py.words[i].effect}`));
  assert.deepEqual(js.topPositive.map((w) => w.word), py.top_positive.map((w) => w.word));
  await model.release();

  // a head that does not fit the outputs is refused before a session
  const manifest = JSON.parse(await readFile(join(work, "bundle", "manifest.json"), "utf8"));
  manifest.model.head = "sigmoid";
  await writeFile(join(work, "bundle", "manifest.json"), JSON.stringify(manifest));
  await assert.rejects(loadBundle(join(work, "bundle"), { ort }), (err) => err instanceof BundleError && /has head "sigmoid" for 3 output/.test(err.message));
});

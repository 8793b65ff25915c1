// The bundles' conformance vectors through model.text.onnx on onnxruntime-node (and on onnxruntime-web's
// WASM build, run in Node): ids identical and |Δp| <= 1e-5 for every text; tampered bundles refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import * as ortNode from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import { ATOL, BundleError, checkConformance, loadBundle, loadConformance } from "../src/index.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const BUNDLES = {
  default: join(ROOT, "src", "edge_sentiment", "assets", "default"),
  tiny: join(ROOT, "tests", "assets", "tiny_bundle"),
};
ortWeb.env.wasm.numThreads = 1;
const RUNTIMES = { "onnxruntime-node": [ortNode, {}], "onnxruntime-web (wasm)": [ortWeb, { executionProviders: ["wasm"] }] };

for (const [name, path] of Object.entries(BUNDLES)) {
  for (const [runtime, [ort, sessionOptions]] of Object.entries(RUNTIMES)) {
    test(`${name} bundle passes its conformance vectors on ${runtime}, one text at a time and in one batch`, async () => {
      const model = await loadBundle(path, { ort, sessionOptions });
      const vectors = await loadConformance(path, model.manifest);
      assert.equal(vectors.length, 200);
      for (const batchSize of [1, vectors.length]) {
        const result = await checkConformance(model, vectors, batchSize);
        assert.ok(result.passed, JSON.stringify(result.firstFailure));
        assert.equal(result.identical, 200);
        assert.ok(result.maxAbsDiff <= ATOL);
      }
      await model.release();
    });
  }
}

test("predict gives labels and scores from the manifest", async () => {
  const model = await loadBundle(BUNDLES.default, { ort: ortNode });
  const [good, bad] = await model.predict(["A wonderful, moving film.", "Dull, and far too long."]);
  assert.equal(good.label, "positive");
  assert.equal(bad.label, "negative");
  assert.ok(good.score > 0.5 && bad.score < 0.5);
  assert.deepEqual(await model.predictProba([]), []);
});

async function copyOf(path) {
  const dir = await mkdtemp(join(tmpdir(), "edge-sentiment-"));
  await cp(path, dir, { recursive: true });
  return dir;
}

test("a changed model.text.onnx is refused before any session", async () => {
  const dir = await copyOf(BUNDLES.tiny);
  try {
    const file = join(dir, "model.text.onnx");
    const bytes = await readFile(file);
    bytes[bytes.length - 1] ^= 1;
    await writeFile(file, bytes);
    await assert.rejects(loadBundle(dir, { ort: ortNode }), (e) => e instanceof BundleError && /sha256/.test(e.message));
  } finally {
    await rm(dir, { recursive: true });
  }
});

test("a newer format_version and a bundle without a text model are refused with what to do", async () => {
  const dir = await copyOf(BUNDLES.tiny);
  try {
    const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8"));
    await writeFile(join(dir, "manifest.json"), JSON.stringify({ ...manifest, format_version: 2 }));
    await assert.rejects(loadBundle(dir, { ort: ortNode }), /newer than this package reads/);
    delete manifest.files["model.text.onnx"];
    await writeFile(join(dir, "manifest.json"), JSON.stringify(manifest));
    await assert.rejects(loadBundle(dir, { ort: ortNode }), /export --text-model/);
  } finally {
    await rm(dir, { recursive: true });
  }
});

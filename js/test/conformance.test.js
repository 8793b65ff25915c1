// The bundles' conformance vectors through model.text.onnx on onnxruntime-node (and on onnxruntime-web's
// WASM build, run in Node): ids identical and |Δp| <= 1e-5 for every text; tampered bundles refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as ortNode from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import { ATOL, BundleError, checkConformance, loadBundle, loadConformance } from "edge-sentiment";
import { BUNDLES } from "./bundles.js";

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

test("a file: URL loads in Node as its folder does, and onProgress reports each file's bytes", async () => {
  const seen = [];
  const model = await loadBundle(pathToFileURL(BUNDLES.tiny), { ort: ortNode, onProgress: (p) => seen.push(p) });
  const again = await loadBundle(pathToFileURL(BUNDLES.tiny).href, { ort: ortNode });
  assert.deepEqual(await model.predictProba(["Dull."]), await again.predictProba(["Dull."]));
  const size = model.manifest.files["model.text.onnx"].bytes;
  assert.deepEqual(seen.at(-1), { file: "model.text.onnx", loaded: size, total: size });
  assert.equal(seen[0].file, "manifest.json");
  await assert.rejects(loadBundle(pathToFileURL(join(BUNDLES.tiny, "nowhere")), { ort: ortNode }), (e) => e instanceof BundleError && /bundle file missing/.test(e.message));
});

test("over HTTP, onProgress reports bytes as they arrive, and a stalled file ends in a BundleError when the signal aborts", async () => {
  const { createServer } = await import("node:http");
  const model = await readFile(join(BUNDLES.tiny, "model.text.onnx"));
  const open = [];
  const server = createServer(async (req, res) => {
    const name = req.url.split("/").pop();
    if (req.url.startsWith("/stall/") && name === "model.text.onnx") {
      res.writeHead(200, { "content-length": model.length }).write(model.subarray(0, 1000)); // then nothing
      return open.push(res);
    }
    res.writeHead(200).end(await readFile(join(BUNDLES.tiny, name)));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const seen = [];
    const loaded = await loadBundle(`${base}/ok/`, { ort: ortNode, onProgress: (p) => seen.push(p) });
    assert.equal(loaded.classes, 1);
    assert.deepEqual(seen.at(-1), { file: "model.text.onnx", loaded: model.length, total: model.length });
    const t = Date.now();
    const signal = AbortSignal.timeout(300);
    await assert.rejects(loadBundle(`${base}/stall/`, { ort: ortNode, signal }), (e) => e instanceof BundleError && /model\.text\.onnx stopped after 1000 bytes/.test(e.message));
    assert.ok(Date.now() - t < 5000);
  } finally {
    for (const res of open) res.destroy();
    server.close();
  }
});

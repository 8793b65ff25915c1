// Hostile bundles, built here, refused by loadBundle before any session: model.text.onnx files with
// matching sha256 sums that hold external data, custom domains, a Loop, functions (made with the onnx
// package from the project's .venv, js/test/hostile_models.py), files over the size caps, links and FIFOs,
// manifest fields of the wrong type, and bundle URLs that redirect to another origin.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, symlink, truncate, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ortNode from "onnxruntime-node";
import { ALLOWED_OPS, BundleError, MAX_BYTES, TEXT_OPS, loadBundle } from "edge-sentiment";
import { NO_PYTHON, TINY, bundleWith as copyWith, hostileModels, python } from "./hostile.js";

/** An onnxruntime stand-in that records whether a session was asked for. */
const spy = () => {
  const calls = [];
  return { calls, ort: { InferenceSession: { create: async (bytes) => (calls.push(bytes.length), ortNode.InferenceSession.create(bytes)) }, Tensor: ortNode.Tensor } };
};

let work;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "edge-sentiment-hostile-"));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

const bundleWith = (name, model, edit) => copyWith(join(work, name), model, edit);

/** loadBundle refuses `dir` with a BundleError matching `message`, and never asked for a session. */
async function refused(dir, message) {
  const { calls, ort } = spy();
  await assert.rejects(loadBundle(dir, { ort }), (e) => e instanceof BundleError && message.test(e.message) && !/Error:|\n\s+at /.test(e.message));
  assert.deepEqual(calls, [], "a session was created for a refused bundle");
}

const EXPECTED = {
  external_initializer: /stores tensors outside the file/,
  external_attribute: /stores tensors outside the file \(leak\)/,
  custom_domain: /ops a text model never has: com\.evil\.Exfiltrate/,
  loop: /ops a text model never has: Loop/,
  nested_custom_op: /ops a text model never has: If, com\.evil\.Exfiltrate/,
  function: /defines ONNX functions \(local\.fns\.Helper\)/,
  function_named_like_an_allowed_op: /defines ONNX functions \(Sigmoid\)/,
  int_input: /must take one string input 'text'/,
};

test("model.text.onnx files with matching sha256 sums but external data, custom ops, a Loop or functions are refused before a session", { skip: NO_PYTHON, timeout: 120_000 }, async () => {
  const models = await hostileModels(join(work, "models"));
  assert.deepEqual(Object.keys(models).sort(), Object.keys(EXPECTED).sort());
  for (const [name, message] of Object.entries(EXPECTED)) {
    const dir = await bundleWith(name, models[name]);
    await writeFile(join(dir, "secret.bin"), Buffer.alloc(1 << 16, 7)); // what external data would read
    await refused(dir, message);
  }
  // the same bundle with its own model loads, through the same spy: the refusals above are the checks'
  const { calls, ort } = spy();
  const model = await loadBundle(await bundleWith("control", await readFile(join(TINY, "model.text.onnx"))), { ort });
  assert.equal(calls.length, 1);
  await model.release();
});

test("the Python runtime refuses the same hostile models", { skip: NO_PYTHON, timeout: 120_000 }, async () => {
  const dir = join(work, "models-py");
  const models = await hostileModels(dir);
  const code = [
    "import json, sys",
    "from edge_sentiment.errors import BundleError",
    "from edge_sentiment.runtime.onnxinfo import read_onnx_info",
    "from edge_sentiment.runtime.textmodel import check_text_model",
    "verdicts = {}",
    "for name in sys.argv[2:]:",
    "    try:",
    "        check_text_model(read_onnx_info(open(f'{sys.argv[1]}/{name}.onnx', 'rb').read()))",
    "        verdicts[name] = 'accepted'",
    "    except BundleError as exc:",
    "        verdicts[name] = str(exc)",
    "print(json.dumps(verdicts))",
  ].join("\n");
  const run = python(["-c", code, dir, ...Object.keys(models)]);
  assert.equal(run.status, 0, run.stderr);
  const verdicts = JSON.parse(run.stdout);
  assert.deepEqual(Object.keys(verdicts).sort(), Object.keys(models).sort());
  for (const [name, verdict] of Object.entries(verdicts)) {
    assert.match(verdict, /is not a text model this runtime will run/, name);
  }
});

test("the allow-list and size caps are the Python runtime's", { skip: NO_PYTHON }, () => {
  const code = [
    "import json",
    "from edge_sentiment.runtime import bundle, conformance, textmodel",
    "print(json.dumps({'allowed': sorted(bundle.ALLOWED_OPS), 'text': sorted(textmodel.TEXT_OPS),",
    " 'caps': {'manifest.json': bundle._MAX_MANIFEST_BYTES, 'model.text.onnx': textmodel._MAX_BYTES, 'conformance.jsonl': conformance._MAX_BYTES}}))",
  ].join("\n");
  const run = python(["-c", code]);
  assert.equal(run.status, 0, run.stderr);
  const py = JSON.parse(run.stdout);
  assert.deepEqual([...ALLOWED_OPS].sort(), py.allowed);
  assert.deepEqual([...TEXT_OPS].sort(), py.text);
  assert.deepEqual(MAX_BYTES, py.caps);
});

test("files over the size caps are refused before they are read", { timeout: 60_000 }, async () => {
  // a 600 MB model (sparse: no disk used) listed with its true size, and listed as small
  const huge = 600 * 1024 * 1024;
  const listed = await bundleWith("huge-listed", null, (m) => ({ ...m, files: { ...m.files, "model.text.onnx": { ...m.files["model.text.onnx"], bytes: huge } } }));
  await truncate(join(listed, "model.text.onnx"), huge);
  await refused(listed, /the manifest says model\.text\.onnx is 629145600 bytes, more than the 536870912 allowed/);
  const hidden = await bundleWith("huge-hidden");
  await truncate(join(hidden, "model.text.onnx"), huge);
  await refused(hidden, /model\.text\.onnx is 629145600 bytes, more than the 536870912 allowed/);
  // a 5 MB manifest
  const fat = await bundleWith("fat-manifest");
  const manifest = JSON.parse(await readFile(join(fat, "manifest.json"), "utf8"));
  await writeFile(join(fat, "manifest.json"), JSON.stringify({ ...manifest, padding: "x".repeat(5 * 1024 * 1024) }));
  await refused(fat, /manifest\.json is \d+ bytes, more than the 4194304 allowed/);
});

test("a FIFO, a link or a folder named as a bundle file is refused, not waited on", { skip: process.platform === "win32" && "no FIFOs", timeout: 20_000 }, async () => {
  const fifo = await bundleWith("fifo");
  await rm(join(fifo, "model.text.onnx"));
  assert.equal(spawnSync("mkfifo", [join(fifo, "model.text.onnx")]).status, 0);
  const started = Date.now();
  await refused(fifo, /model\.text\.onnx is not a regular file; bundles hold only plain files/);
  assert.ok(Date.now() - started < 5000);
  const fifoManifest = await bundleWith("fifo-manifest");
  await rm(join(fifoManifest, "manifest.json"));
  spawnSync("mkfifo", [join(fifoManifest, "manifest.json")]);
  await refused(fifoManifest, /manifest\.json is not a regular file/);
  const linked = await bundleWith("link");
  await rm(join(linked, "model.text.onnx"));
  await symlink(join(TINY, "model.text.onnx"), join(linked, "model.text.onnx"));
  await refused(linked, /model\.text\.onnx is a link or not a regular file \(ELOOP\)/);
  const folder = await bundleWith("folder");
  await rm(join(folder, "model.text.onnx"));
  await mkdir(join(folder, "model.text.onnx"));
  await refused(folder, /model\.text\.onnx is not a regular file/);
  const missing = await bundleWith("missing");
  await rm(join(missing, "model.text.onnx"));
  await refused(missing, /bundle file missing: .*model\.text\.onnx; re-export the bundle/);
});

test("manifest fields of the wrong type or range are refused at load, naming the field", { timeout: 60_000 }, async () => {
  const cases = [
    [(m) => ({ ...m, model: { ...m.model, classes: "2" } }), /has classes "2": 1 \(one sigmoid output\) or k/],
    [(m) => ({ ...m, model: { ...m.model, classes: 0 } }), /has classes 0/],
    [(m) => ({ ...m, labels: ["good", "good"] }), /has labels \["good","good"\]: 2 distinct names/],
    [(m) => ({ ...m, labels: "positive" }), /has labels "positive"/],
    [(m) => ({ ...m, threshold: 7 }), /has threshold 7; it must be a number between 0 and 1/],
    [(m) => ({ ...m, threshold: "0.5" }), /has threshold "0\.5"/],
    [(m) => ({ ...m, files: [] }), /has no 'files' section/],
    [(m) => ({ ...m, model: null }), /has no 'model' section/],
    [(m) => ({ ...m, files: { ...m.files, "model.text.onnx": { ...m.files["model.text.onnx"], bytes: "46849" } } }), /entry for model\.text\.onnx has no valid size/],
  ];
  for (const [k, [edit, message]] of cases.entries()) await refused(await bundleWith(`manifest-${k}`, null, edit), message);
  const deep = await bundleWith("deep");
  await writeFile(join(deep, "manifest.json"), "[".repeat(100_000) + "]".repeat(100_000));
  await refused(deep, /has no edge-sentiment bundle manifest/);
});

test("a model whose output width disagrees with the manifest's classes fails the batch, not mislabels it", { timeout: 60_000 }, async () => {
  const dir = await bundleWith("classes", null, (m) => ({ ...m, model: { ...m.model, classes: 3 }, labels: ["a", "b", "c"] }));
  const model = await loadBundle(dir, { ort: ortNode });
  await assert.rejects(model.predict(["a fine film"]), (e) => e instanceof BundleError && /shape \[1,1\] for 1 texts, but the manifest says 3 class\(es\)/.test(e.message));
  await model.release();
});

/** Two loopback servers (two origins): `home` serves the tiny bundle and redirects; `other` serves it too. */
async function origins(t) {
  const files = async (req, res, prefix) => {
    const name = req.url.slice(prefix.length);
    try {
      const body = await readFile(join(TINY, name));
      res.writeHead(200, { "access-control-allow-origin": "*", "content-length": body.length }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  };
  const listen = (handler) => new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
  const seen = [];
  const other = await listen((req, res) => (seen.push(req.url), files(req, res, "/tiny/")));
  const otherOrigin = `http://127.0.0.1:${other.address().port}`;
  const home = await listen((req, res) => {
    if (req.url.startsWith("/tiny/")) return files(req, res, "/tiny/");
    if (req.url.startsWith("/moved/")) return res.writeHead(301, { location: `/tiny/${req.url.slice(7)}` }).end();
    if (req.url === "/away/manifest.json") return res.writeHead(302, { location: `${otherOrigin}/tiny/manifest.json` }).end();
    if (req.url === "/half/manifest.json") return files(req, res, "/half/");
    if (req.url === "/half/model.text.onnx") return res.writeHead(307, { location: `${otherOrigin}/tiny/model.text.onnx` }).end();
    if (req.url === "/chunked/manifest.json") {
      res.writeHead(200); // no Content-Length: the cap must hold while streaming
      for (let i = 0; i < 80; i++) res.write(Buffer.alloc(64 * 1024, 32));
      return res.end();
    }
    if (req.url === "/declared/manifest.json") return res.writeHead(200, { "content-length": 5 * 1024 * 1024 }).end(Buffer.alloc(5 * 1024 * 1024, 32));
    return res.writeHead(404).end();
  });
  t.after(() => (home.close(), other.close()));
  return { home: `http://127.0.0.1:${home.address().port}`, seen };
}

test("a bundle URL that redirects to another origin is refused; a same-origin redirect is followed", { timeout: 60_000 }, async (t) => {
  const { home } = await origins(t);
  const model = await loadBundle(`${home}/moved/`, { ort: ortNode });
  assert.equal((await model.predict(["a fine film"])).length, 1);
  await model.release();
  await refused(`${home}/away/`, /manifest\.json redirected to another origin \(http:\/\/127\.0\.0\.1:\d+\); a bundle is read from its own origin only/);
  await refused(`${home}/half/`, /model\.text\.onnx redirected to another origin/);
  await refused(`${home}/chunked/`, /manifest\.json is over \d+ bytes, more than the 4194304 allowed/);
  await refused(`${home}/declared/`, /manifest\.json is 5242880 bytes, more than the 4194304 allowed/);
});

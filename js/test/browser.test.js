// examples/web in headless Chromium, against a loopback static server, with every outside request
// blocked: the page loads the default bundle, its scores equal the conformance vectors (the Python
// runtime's), and it scores what is typed; and hostile bundles are refused in the browser as in Node.
// Skipped, saying why, where no Chromium is installed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, dirname, extname, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { NO_PYTHON, TINY, bundleWith, hostileModels } from "./hostile.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const CHROMIUM = [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-headless-shell", "/usr/bin/chromium-browser"].find(
  (p) => p && existsSync(p),
);
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json", ".wasm": "application/wasm" };

/** A static file server for the repository, on 127.0.0.1 only; `routes(req, res)` may answer first. */
function serve(routes = () => false) {
  const server = createServer(async (req, res) => {
    if (await routes(req, res)) return;
    const path = normalize(join(ROOT, decodeURIComponent(new URL(req.url, "http://x").pathname)));
    if (!path.startsWith(ROOT)) return res.writeHead(403).end();
    try {
      if (!(await stat(path)).isFile()) throw new Error("not a file");
      res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" });
      res.end(await readFile(path));
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

test("the web page scores the default and tiny bundles' conformance texts as the Python runtime does, offline", { skip: !CHROMIUM && "no Chromium: apt-get install chromium", timeout: 180_000 }, async () => {
  const { default: puppeteer } = await import("puppeteer-core");
  const server = await serve();
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  const outside = [];
  try {
    const page = await browser.newPage();
    await page.setRequestInterception(true);
    page.on("request", (request) => {
      if (request.url().startsWith(`${origin}/`)) return request.continue();
      outside.push(request.url());
      return request.abort("blockedbyclient");
    });
    const errors = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${origin}/examples/web/index.html`, { waitUntil: "load" });
    const result = await page.evaluate(async () => {
      const model = await window.edgeSentiment.ready;
      const lib = await import("/js/src/index.js");
      const vectors = await lib.loadConformance(new URL("/src/edge_sentiment/assets/default/", location.href), model.manifest);
      const t = performance.now();
      const one = await lib.checkConformance(model, vectors, 1);
      const ms = (performance.now() - t) / vectors.length;
      const batched = await lib.checkConformance(model, vectors, vectors.length);
      // and the tiny test bundle, on the same onnxruntime-web
      const ort = await import("/js/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs");
      const tinyUrl = new URL("/tests/assets/tiny_bundle/", location.href);
      const tiny = await lib.loadBundle(tinyUrl, { ort, sessionOptions: { executionProviders: ["wasm"] } });
      const tinyResult = await lib.checkConformance(tiny, await lib.loadConformance(tinyUrl, tiny.manifest), 1);
      return { one, batched, tiny: tinyResult, ms, userAgent: navigator.userAgent };
    });
    assert.deepEqual(errors, []);
    for (const r of [result.one, result.batched, result.tiny]) {
      assert.ok(r.passed, JSON.stringify(r.firstFailure));
      assert.equal(r.identical, 200);
    }
    await page.click("#text", { clickCount: 3 });
    await page.type("#text", "Dull, and far too long.");
    await page.waitForFunction(() => document.getElementById("result").textContent.startsWith("negative"), { timeout: 10_000 });
    await page.click("#text", { clickCount: 3 });
    await page.type("#text", "A wonderful, moving film. I loved every minute of it.");
    await page.waitForFunction(() => document.getElementById("result").textContent.startsWith("positive"), { timeout: 10_000 });
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
    assert.deepEqual(outside, [], "the page asked for something outside the loopback server");
    console.log(`# chromium: ${result.userAgent}; conformance 200/200 batch 1 and 200, max |dp| ${result.one.maxAbsDiff.toExponential(1)}, ${result.ms.toFixed(2)} ms a text`);
  } finally {
    await browser.close();
    server.close();
  }
});

test("hostile bundles are refused in Chromium too: custom ops, external data, a Loop, and a redirect to another origin", { skip: (!CHROMIUM && "no Chromium: apt-get install chromium") || NO_PYTHON, timeout: 180_000 }, async () => {
  const { default: puppeteer } = await import("puppeteer-core");
  const work = await mkdtemp(join(tmpdir(), "edge-sentiment-browser-"));
  const models = await hostileModels(join(work, "models"));
  const names = ["custom_domain", "external_initializer", "loop", "function"];
  for (const name of names) await bundleWith(join(work, name), models[name]);
  const send = async (res, path) => {
    try {
      const body = await readFile(path);
      res.writeHead(200, { "content-type": "application/octet-stream", "access-control-allow-origin": "*" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  };
  // another origin that would hand the bundle over (CORS open): only the loader's own check refuses it
  const other = await serve(async (req, res) => (await send(res, join(TINY, req.url.split("/").pop())), true));
  const otherOrigin = `http://127.0.0.1:${other.address().port}`;
  const server = await serve(async (req, res) => {
    const [, top, name, file] = req.url.split("/");
    if (top === "blank.html") return res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>hostile</title>"), true;
    if (top === "hostile" && names.includes(name)) return send(res, join(work, name, file)).then(() => true);
    if (top === "away") return res.writeHead(302, { location: `${otherOrigin}/tiny/${name}` }).end(), true;
    if (top === "half" && name === "model.text.onnx") return res.writeHead(307, { location: `${otherOrigin}/tiny/${name}` }).end(), true;
    if (top === "half") return send(res, join(TINY, name)).then(() => true);
    return false;
  });
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    const page = await browser.newPage();
    await page.setRequestInterception(true);
    page.on("request", (request) => (request.url().startsWith(`${origin}/`) || request.url().startsWith(`${otherOrigin}/`) ? request.continue() : request.abort("blockedbyclient")));
    await page.goto(`${origin}/blank.html`, { waitUntil: "load" });
    const results = await page.evaluate(async (names) => {
      const lib = await import("/js/src/index.js");
      const ort = await import("/js/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs");
      ort.env.wasm.numThreads = 1;
      let sessions = 0;
      const spy = { ...ort, InferenceSession: { create: (...args) => (sessions++, ort.InferenceSession.create(...args)) } };
      const out = {};
      for (const name of [...names.map((n) => `hostile/${n}`), "away", "half"]) {
        try {
          await lib.loadBundle(new URL(`/${name}/`, location.href), { ort: spy, sessionOptions: { executionProviders: ["wasm"] } });
          out[name] = "loaded";
        } catch (error) {
          out[name] = `${error.name}: ${error.message}`;
        }
      }
      return { out, sessions };
    }, names);
    assert.equal(results.sessions, 0, JSON.stringify(results.out));
    const expected = {
      "hostile/custom_domain": /ops a text model never has: com\.evil\.Exfiltrate/,
      "hostile/external_initializer": /stores tensors outside the file/,
      "hostile/loop": /ops a text model never has: Loop/,
      "hostile/function": /defines ONNX functions/,
      away: /manifest\.json redirected to another origin/,
      half: /model\.text\.onnx redirected to another origin/,
    };
    for (const [name, message] of Object.entries(expected)) assert.match(results.out[name], new RegExp(`^BundleError: .*${message.source}`), name);
  } finally {
    await browser.close();
    server.close();
    other.close();
    await rm(work, { recursive: true, force: true });
  }
});

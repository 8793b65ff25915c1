// examples/web in headless Chromium, against a loopback static server, with every outside request
// blocked: the page loads the default bundle, its scores equal the conformance vectors (the Python
// runtime's), and it scores what is typed; and hostile bundles are refused in the browser as in Node.
// Then each state of the page: progress in bytes while a file arrives, and a styled message saying what
// to do when the runtime files are missing, when the server stops answering, and when the model file was
// changed. SCREENSHOTS=dir writes each state's screenshot there (npm run screenshots: docs/web-*.png).
// Skipped, saying why, where no Chromium is installed or outside the repository (examples/web is not packed).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { existsSync } from "node:fs";
import { cp, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, extname, normalize } from "node:path";
import { REPO } from "./bundles.js";
import { NO_PYTHON, TINY, bundleWith, hostileModels, pythonRuntime } from "./hostile.js";

const ROOT = REPO ?? "/nonexistent";
const CHROMIUM = [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-headless-shell", "/usr/bin/chromium-browser"].find(
  (p) => p && existsSync(p),
);
const NO_BROWSER = (!CHROMIUM && "no Chromium: apt-get install chromium") || (!REPO && "examples/web is in the edge-sentiment repository, not in this package");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json", ".wasm": "application/wasm" };

/** The page's screenshot as SCREENSHOTS/name, when SCREENSHOTS is set. */
async function shoot(page, name) {
  if (process.env.SCREENSHOTS) await page.screenshot({ path: join(process.env.SCREENSHOTS, name), fullPage: true });
}

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

test("the web page scores the default and tiny bundles' conformance texts as the Python runtime does, offline", { skip: NO_BROWSER, timeout: 180_000 }, async () => {
  const { default: puppeteer } = await import("puppeteer-core");
  const server = await serve();
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  const outside = [];
  const wasm = [];
  try {
    const page = await browser.newPage();
    await page.setRequestInterception(true);
    page.on("request", (request) => {
      if (request.url().endsWith(".wasm")) wasm.push(request.url().split("/").pop());
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
    await page.waitForFunction(() => document.getElementById("label").textContent === "negative", { timeout: 10_000 });
    // the confidence shown is in the label shown: 1 - P(positive) beside "negative"
    const negative = await page.evaluate(async () => {
      const [p] = await (await window.edgeSentiment.ready).predictProba([document.getElementById("text").value]);
      return { p, confidence: document.getElementById("confidence").textContent, raw: document.getElementById("raw").textContent, card: document.getElementById("card").textContent };
    });
    assert.ok(negative.p < 0.5);
    assert.equal(negative.confidence, `${(100 * (1 - negative.p)).toFixed(1)} % confident`);
    assert.match(negative.raw, new RegExp(`^P\\(positive\\) = ${negative.p.toFixed(4)}`));
    assert.match(negative.card, /English movie reviews \(IMDB\): trained on 22,500 of them.*89\.2 % accurate on 25,000 held-out reviews/);
    await page.click("#text", { clickCount: 3 });
    await page.type("#text", "A wonderful, moving film. I loved every minute of it.");
    await page.waitForFunction(() => document.getElementById("label").textContent === "positive", { timeout: 10_000 });
    await shoot(page, "web-example.png");
    assert.deepEqual(outside, [], "the page asked for something outside the loopback server");
    // the page's own fetch of the .wasm (with progress) is the only one: onnxruntime-web does not fetch it again
    assert.deepEqual(wasm, ["ort-wasm-simd-threaded.wasm"]);
    const firstScoreMs = await page.evaluate(() => document.body.dataset.firstScoreMs);
    console.log(`# the page's first score ${firstScoreMs} ms after its script started (loopback)`);
    console.log(`# chromium: ${result.userAgent}; conformance 200/200 batch 1 and 200, max |dp| ${result.one.maxAbsDiff.toExponential(1)}, ${result.ms.toFixed(2)} ms a text`);
  } finally {
    await browser.close();
    server.close();
  }
});

test("with a calibrated bundle and an uncertain band, the page shows Python's calibrated score, the band's label, and Explain marks Python's top words", { skip: NO_BROWSER || NO_PYTHON, timeout: 240_000 }, async () => {
  const { default: puppeteer } = await import("puppeteer-core");
  const work = await mkdtemp(join(tmpdir(), "edge-sentiment-decision-page-"));
  // the shipped bundle with a calibration and a band in its manifest (the model file is the shipped one: its sha256 matches)
  const copy = join(work, "default");
  await cp(join(ROOT, "src", "edge_sentiment", "assets", "default"), copy, { recursive: true });
  const manifest = JSON.parse(await readFile(join(copy, "manifest.json"), "utf8"));
  Object.assign(manifest, { calibration: { temperature: 1.5, bias: -0.3 }, uncertain: { low: 0.35, high: 0.65 } });
  const body = JSON.stringify(manifest);
  await writeFile(join(copy, "manifest.json"), body);
  const unsure = "A wonderful, moving film. The plot was dull but the acting was great!";
  const sure = "A wonderful, moving film. I loved every minute of it.";
  const py = pythonRuntime({ job: "predict", bundle: copy, texts: [unsure, sure] });
  const raw = pythonRuntime({ job: "predict", bundle: copy, texts: [unsure], calibrated: false });
  const why = pythonRuntime({ job: "explain", bundle: copy, text: unsure, options: { top: 3 } });
  assert.deepEqual(py.labels, ["uncertain", "positive"]);
  assert.ok(Math.abs(py.predictor[0] - raw.predictor[0]) > 0.01, "the calibration moves the score shown");
  const server = await serve((req, res) =>
    new URL(req.url, "http://x").pathname === "/src/edge_sentiment/assets/default/manifest.json" ? (res.writeHead(200, { "content-type": "application/json" }).end(body), true) : false,
  );
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  const shown = () => ({
    label: document.getElementById("label").textContent,
    kind: document.getElementById("label").className,
    confidence: document.getElementById("confidence").textContent,
    band: document.getElementById("band").hidden ? null : document.getElementById("band").textContent,
    raw: document.getElementById("raw").textContent,
    pressed: document.getElementById("explain-toggle").getAttribute("aria-pressed"),
    explained: document.getElementById("explanation").hidden
      ? null
      : (() => {
          const seen = document.getElementById("explained").cloneNode(true); // the words as seen: no signs, no screen-reader text
          seen.querySelectorAll(".sign, .sr-only").forEach((e) => e.remove());
          return seen.textContent;
        })(),
    marks: [...document.querySelectorAll("#explained mark")].map((m) => ({ word: m.firstChild.textContent, way: m.className, title: m.title, spoken: m.querySelector(".sr-only").textContent })),
    summary: document.getElementById("explain-summary").textContent,
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 900, height: 700 });
    const errors = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${origin}/examples/web/index.html`, { waitUntil: "load" });
    await page.evaluate(async () => void (await window.edgeSentiment.ready));
    await page.click("#text", { clickCount: 3 });
    await page.type("#text", unsure);
    // the whole review scored (not a prefix typed on the way): Python's calibrated P(positive) shown
    const wanted = `P(positive) = ${py.predictor[0].toFixed(4)}, `;
    await page.waitForFunction((w) => document.getElementById("raw").textContent.startsWith(w), { timeout: 30_000 }, wanted);
    const [p] = await page.evaluate(async (t) => (await window.edgeSentiment.ready).predictProba([t]), unsure);
    assert.ok(Math.abs(p - py.text_model[0]) <= 1e-6, `Chromium ${p} vs Python's TextModel ${py.text_model[0]}`);
    let s = await page.evaluate(shown);
    assert.equal(s.kind, "uncertain");
    assert.equal(s.confidence, `${(100 * p).toFixed(1)} % positive: too close to call`);
    assert.match(s.band, /P\(positive\) is in the bundle's uncertain band \[0\.35, 0\.65\): it labels such texts "uncertain" rather than guess/);
    assert.equal(s.raw, `P(positive) = ${py.predictor[0].toFixed(4)}, threshold 0.5, calibrated (temperature 1.5, bias -0.3), uncertain in [0.35, 0.65)`);
    assert.equal(s.explained, null);
    // Explain: the text, whole, with Python's top three words each way marked (colour, a sign, a title and words for screen readers)
    await page.click("#explain-toggle");
    await page.waitForFunction(() => document.querySelectorAll("#explained mark").length > 0, { timeout: 30_000 });
    s = await page.evaluate(shown);
    assert.equal(s.pressed, "true");
    assert.equal(s.explained, unsure);
    const expected = [...why.top_positive.map((w) => [w, "up"]), ...why.top_negative.map((w) => [w, "down"])].sort((a, b) => a[0].start - b[0].start);
    assert.deepEqual(s.marks.map((m) => [m.word, m.way]), expected.map(([w, way]) => [w.word, way]));
    s.marks.forEach((m, i) => {
      const effect = expected[i][0].effect;
      const says = `${effect > 0 ? "raised" : "lowered"} P(positive) by ${Math.abs(effect).toFixed(3)}`;
      assert.equal(m.title, says);
      assert.equal(m.spoken, ` (${says})`);
    });
    assert.match(s.summary, /^Leaving each word out: “wonderful,” \(\+0\.\d{3}\)/);
    assert.match(s.summary, /13 words, 13 variants scored in one batch in \d+ ms\.$/);
    await shoot(page, "web-explain.png");
    // a clear review: its label, no band, and the marks follow the new text
    await page.click("#text", { clickCount: 3 });
    await page.type("#text", sure);
    await page.waitForFunction((t) => document.getElementById("label").textContent === "positive" && document.getElementById("explained").textContent.includes("minute"), { timeout: 30_000 }, sure);
    s = await page.evaluate(shown);
    assert.equal(s.band, null);
    assert.equal(s.kind, "positive");
    assert.equal(s.confidence, `${(100 * py.text_model[1]).toFixed(1)} % confident`);
    assert.ok(s.marks.length > 0);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    server.close();
    await rm(work, { recursive: true, force: true });
  }
});

test("the page shows bytes while loading, and a styled message saying what to do for missing runtime files, a server that stops answering, and a changed model", { skip: NO_BROWSER, timeout: 180_000 }, async () => {
  const { default: puppeteer } = await import("puppeteer-core");
  const model = await readFile(join(ROOT, "src", "edge_sentiment", "assets", "default", "model.text.onnx"));
  const stalled = [];
  let mode = "";
  const server = await serve(async (req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (mode === "missing" && path.startsWith("/js/node_modules/")) return res.writeHead(404).end(), true;
    if (mode === "no-wasm" && path.endsWith(".wasm")) return res.writeHead(404).end(), true;
    if (path.endsWith("/default/model.text.onnx") && mode === "stall") {
      // half the file, then nothing: the connection stays open, as with a server that hangs
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": model.length });
      res.write(model.subarray(0, model.length >> 1));
      stalled.push(res);
      return true;
    }
    if (path.endsWith("/default/model.text.onnx") && mode === "tampered") {
      const changed = Buffer.from(model);
      changed[changed.length >> 1] ^= 1;
      return res.writeHead(200, { "content-type": "application/octet-stream" }).end(changed), true;
    }
    return false;
  });
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  const state = () => ({
    state: document.body.dataset.state,
    error: document.body.dataset.error,
    visible: !document.getElementById("error").hidden && !!document.getElementById("error").offsetHeight,
    title: document.getElementById("error-title").textContent,
    detail: document.getElementById("error-detail").textContent,
    fix: document.getElementById("error-fix").textContent,
    progress: document.getElementById("progress-text").textContent,
  });
  async function open(name, query = "") {
    mode = name;
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.setCacheEnabled(false);
    await page.setViewport({ width: 900, height: 700 });
    const t = Date.now();
    await page.goto(`${origin}/examples/web/index.html${query}`, { waitUntil: "domcontentloaded" });
    return { page, context, t };
  }
  try {
    // missing runtime files (js/node_modules not installed)
    {
      const { page, context } = await open("missing");
      await page.waitForFunction(() => document.body.dataset.state === "error", { timeout: 20_000 });
      const s = await page.evaluate(state);
      assert.equal(s.error, "runtime-missing", JSON.stringify(s));
      assert.ok(s.visible);
      assert.match(s.title, /onnxruntime-web is not installed/);
      assert.match(s.detail, /\/js\/node_modules\/onnxruntime-web\/dist\/.* \(HTTP 404|could not be loaded/);
      assert.match(s.fix, /cd js && npm ci --ignore-scripts/);
      await shoot(page, "web-error-runtime.png");
      await context.close();
    }
    // only the .wasm missing (a partial copy of dist/): the same message, naming that file, not onnxruntime's text
    {
      const { page, context } = await open("no-wasm");
      await page.waitForFunction(() => document.body.dataset.state === "error", { timeout: 20_000 });
      const s = await page.evaluate(state);
      assert.equal(s.error, "runtime-missing", JSON.stringify(s));
      assert.match(s.detail, /ort-wasm-simd-threaded\.wasm could not be loaded \(HTTP 404\)/);
      await context.close();
    }
    // the server sends half of model.text.onnx, then nothing: bytes shown, then the timeout's message
    {
      const { page, context, t } = await open("stall", "?timeout=1500");
      // the page's kB (examples/web/app.js): half the file received, of the whole
      const shown = `model.text.onnx ${Math.round((model.length >> 1) / 1e3)} kB of ${Math.round(model.length / 1e3)} kB`;
      await page.waitForFunction((text) => document.getElementById("progress-text").textContent.includes(text), { timeout: 20_000 }, shown);
      const during = await page.evaluate(state);
      assert.equal(during.state, "loading");
      assert.match(during.progress, /ort-wasm-simd-threaded\.wasm [\d.]+ MB of [\d.]+ MB/);
      await shoot(page, "web-loading.png");
      await page.waitForFunction(() => document.body.dataset.state === "error", { timeout: 20_000 });
      const s = await page.evaluate(state);
      assert.equal(s.error, "timeout", JSON.stringify(s));
      assert.ok(s.visible);
      assert.match(s.detail, /no answer from the server for 1\.5 s while loading \/src\/edge_sentiment\/assets\/default\/model\.text\.onnx\./);
      assert.match(s.fix, /still running, then reload/);
      assert.ok(Date.now() - t < 15_000, `the timeout took ${Date.now() - t} ms`);
      await shoot(page, "web-error-timeout.png");
      await context.close();
    }
    // a changed model.text.onnx: refused by its sha256, never run
    {
      const { page, context } = await open("tampered");
      await page.waitForFunction(() => document.body.dataset.state === "error", { timeout: 20_000 });
      const s = await page.evaluate(state);
      assert.equal(s.error, "tampered", JSON.stringify(s));
      assert.ok(s.visible);
      assert.match(s.title, /files were changed/);
      assert.match(s.detail, /model\.text\.onnx does not match its sha256/);
      assert.match(s.fix, /re-export it/);
      await shoot(page, "web-error-tampered.png");
      await context.close();
    }
  } finally {
    for (const res of stalled) res.destroy();
    await browser.close();
    server.close();
  }
});

test("hostile bundles are refused in Chromium too: custom ops, external data, a Loop, and a redirect to another origin", { skip: NO_BROWSER || NO_PYTHON, timeout: 180_000 }, async () => {
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

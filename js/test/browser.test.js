// examples/web in headless Chromium, against a loopback static server, with every outside request
// blocked: the page loads the default bundle, its scores equal the conformance vectors (the Python
// runtime's), and it scores what is typed. Skipped, saying why, where no Chromium is installed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join, dirname, extname, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const CHROMIUM = [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-headless-shell", "/usr/bin/chromium-browser"].find(
  (p) => p && existsSync(p),
);
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json", ".wasm": "application/wasm" };

/** A static file server for the repository, on 127.0.0.1 only. */
function serve() {
  const server = createServer(async (req, res) => {
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

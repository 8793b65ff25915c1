// The first load of a page that scores with onnxruntime-web, per build of onnxruntime-web: the bytes
// the browser fetched (runtime and bundle; raw, and what gzip -9 / brotli would send), the time to the
// first score in headless Chromium from a loopback server with the cache off, and whether that build
// passes the bundle's 200 conformance vectors (one text at a time). Threads are measured too: they need
// cross-origin isolation (COOP/COEP headers), which the threaded rows' server sends. Prints JSON, or a
// Markdown table with --markdown; --doc FILE[,FILE] puts that table between each file's `first_load` markers.
//   node bench/first-load.mjs [--bundle DIR] [--repeats 3] [--chromium PATH] [--markdown] [--doc FILE[,FILE]]
import { readFile, stat, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { createServer } from "node:http";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";
import os from "node:os";
import { join, extname, normalize, relative, resolve } from "node:path";
import { REPO, BUNDLES } from "../test/bundles.js";

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]?.startsWith("--") ? true : all[i + 1] ?? true]] : acc), []));
if (!REPO) throw new Error("run this in the edge-sentiment repository: it serves js/ and the bundle from there");
const bundle = resolve(args.bundle ?? BUNDLES.default);
const repeats = Number(args.repeats ?? 3);
const chromium = [args.chromium, process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-headless-shell"].find((p) => p && typeof p === "string" && existsSync(p));
if (!chromium) throw new Error("no Chromium: apt-get install chromium, or pass --chromium PATH");

const DIST = "/js/node_modules/onnxruntime-web/dist/";
const VARIANTS = [
  { name: "ort.wasm.min.mjs (WASM only, what examples/web serves)", module: "ort.wasm.min.mjs", threads: 1 },
  { name: "ort.wasm.bundle.min.mjs (WASM only, glue inlined)", module: "ort.wasm.bundle.min.mjs", threads: 1 },
  { name: "ort.wasm.min.mjs, 2 threads (cross-origin isolated)", module: "ort.wasm.min.mjs", threads: 2, isolated: true },
  { name: "ort.min.mjs (WebGPU-capable build, wasm EP)", module: "ort.min.mjs", threads: 1 },
  { name: "ort.jspi.min.mjs (JSPI build, wasm EP)", module: "ort.jspi.min.mjs", threads: 1 },
];
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json", ".wasm": "application/wasm" };

let isolated = false;
let served = [];
const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  const headers = isolated ? { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" } : {};
  if (url.pathname === "/blank.html") return res.writeHead(200, { ...headers, "content-type": "text/html" }).end("<!doctype html><title>first load</title>");
  const path = normalize(join(REPO, decodeURIComponent(url.pathname)));
  try {
    if (!path.startsWith(REPO) || !(await stat(path)).isFile()) throw new Error("no");
    const body = await readFile(path);
    served.push({ path: url.pathname, bytes: body.length, file: path });
    res.writeHead(200, { ...headers, "content-type": TYPES[extname(path)] ?? "application/octet-stream", "content-length": body.length }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const origin = `http://127.0.0.1:${server.address().port}`;
const { default: puppeteer } = await import("puppeteer-core");
const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
const version = await browser.version();
const compressed = new Map();
const sizes = async (file) => {
  if (!compressed.has(file)) {
    const body = await readFile(file);
    compressed.set(file, { gzip: gzipSync(body, { level: 9 }).length, brotli: brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length });
  }
  return compressed.get(file);
};
const bundleUrl = `/${relative(REPO, bundle)}/`;
const rows = [];
try {
  for (const variant of VARIANTS) {
    const times = [];
    let result;
    let files;
    let conformance;
    for (let r = 0; r < repeats; r++) {
      isolated = !!variant.isolated;
      served = [];
      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      await page.setCacheEnabled(false);
      await page.goto(`${origin}/blank.html`);
      result = await page.evaluate(
        async (dist, module, threads, bundleUrl, check) => {
          try {
            const t0 = performance.now();
            const ort = await import(`${dist}${module}`);
            const lib = await import("/js/src/index.js");
            ort.env.wasm.wasmPaths = new URL(dist, location.href).href;
            ort.env.wasm.numThreads = threads;
            const model = await lib.loadBundle(new URL(bundleUrl, location.href), { ort, sessionOptions: { executionProviders: ["wasm"] } });
            await model.predict(["A wonderful, moving film."]);
            const firstScoreMs = performance.now() - t0;
            if (!check) return { firstScoreMs, isolated: crossOriginIsolated };
            const vectors = await lib.loadConformance(new URL(bundleUrl, location.href), model.manifest);
            const conformance = await lib.checkConformance(model, vectors, 1);
            return { firstScoreMs, isolated: crossOriginIsolated, conformance: { passed: conformance.passed, identical: conformance.identical, texts: conformance.texts, maxAbsDiff: conformance.maxAbsDiff } };
          } catch (error) {
            return { error: error.message.slice(0, 300) };
          }
        },
        DIST,
        variant.module,
        variant.threads,
        bundleUrl,
        r === 0,
      );
      if (result.error) {
        await context.close();
        break;
      }
      if (r === 0) files = served.filter((f) => !f.path.endsWith("conformance.jsonl") && !f.path.startsWith("/js/src/"));
      times.push(result.firstScoreMs);
      if (r === 0) conformance = result.conformance;
      await context.close();
    }
    if (result.error) {
      rows.push({ variant: variant.name, threads: variant.threads, error: result.error, files: served.map((f) => `${f.path.split("/").pop()} ${f.bytes}`) });
      continue;
    }
    let raw = 0;
    let gzip = 0;
    let brotli = 0;
    for (const f of files) {
      const c = await sizes(f.file);
      raw += f.bytes;
      gzip += c.gzip;
      brotli += c.brotli;
    }
    times.sort((a, b) => a - b);
    rows.push({
      variant: variant.name,
      threads: variant.threads,
      cross_origin_isolated: result.isolated,
      files: files.map((f) => `${f.path.split("/").pop()} ${f.bytes}`),
      bytes: raw,
      wasm_bytes: files.filter((f) => f.path.endsWith(".wasm")).reduce((s, f) => s + f.bytes, 0),
      gzip_bytes: gzip,
      brotli_bytes: brotli,
      first_score_ms_median: Math.round(times[times.length >> 1]),
      first_score_ms: times.map(Math.round),
      conformance,
    });
  }
} finally {
  await browser.close();
  server.close();
}
const out = { chromium: version, bundle: relative(REPO, bundle), repeats, rows };
const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
const table = [
  `Made by \`cd js && node bench/first-load.mjs --repeats ${repeats} --doc ...\` on ${new Date().toISOString().slice(0, 10)} (${out.chromium}, headless, loopback server, cache off, bundle ${out.bundle}, model.text.onnx ${rows[0]?.files?.find((f) => f.startsWith("model.text.onnx"))?.split(" ")[1] ?? "?"} bytes; ${os.loadavg()[0].toFixed(1)} load average on ${os.cpus().length} cores).`,
  "",
  `| onnxruntime-web build | threads | first load (raw) | of it .wasm | gzip -9 | brotli 11 | time to first score (median of ${repeats}) | conformance (200 texts) |`,
  "|---|---|---|---|---|---|---|---|",
];
for (const r of rows) {
  if (r.error) {
    table.push(`| ${r.variant} | ${r.threads} | | | | | fails: ${r.error.replace(/\|/g, "\\|").replace(/^.*?ERROR_MESSAGE: /, "").slice(0, 110)}… | |`);
    continue;
  }
  const c = r.conformance;
  table.push(`| ${r.variant} | ${r.threads}${r.threads > 1 && !r.cross_origin_isolated ? " (not isolated)" : ""} | ${mb(r.bytes)} | ${mb(r.wasm_bytes)} | ${mb(r.gzip_bytes)} | ${mb(r.brotli_bytes)} | ${r.first_score_ms_median} ms | ${c.identical}/${c.texts} ids, max \\|Δp\\| ${c.maxAbsDiff.toExponential(1)}${c.passed ? "" : " FAILED"} |`);
}
console.log(args.markdown || args.doc ? table.join("\n") : JSON.stringify(out, null, 1));
for (const doc of typeof args.doc === "string" ? args.doc.split(",") : []) {
  const text = await readFile(doc, "utf8");
  const begin = "<!-- first_load: begin -->";
  const end = "<!-- first_load: end -->";
  if (!text.includes(begin) || !text.includes(end)) throw new Error(`${doc} has no ${begin} ... ${end} markers`);
  await writeFile(doc, `${text.slice(0, text.indexOf(begin) + begin.length)}\n${table.join("\n")}\n${text.slice(text.indexOf(end))}`);
}

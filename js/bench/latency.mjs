// Batch-1 latency of model.text.onnx in Node (onnxruntime-node, and onnxruntime-web's WASM build) and in
// headless Chromium (examples/web, loopback server): median and p90 of `repeats` timed calls after a
// warm-up, one text. Prints JSON. Run by tools/benchmarks/text_model.py, which times Python beside it.
//   node bench/latency.mjs --bundle DIR --text-file FILE [--repeats 200] [--chromium PATH]
import { readFile } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join, dirname, extname, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as ortNode from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import { loadBundle } from "../src/index.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const repeats = Number(args.repeats ?? 200);
const text = (await readFile(args["text-file"], "utf8")).replace(/\n$/, "");
const bundle = args.bundle;

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const figures = (ms) => ({ p50_ms: quantile(ms, 0.5), p90_ms: quantile(ms, 0.9), repeats: ms.length });

async function timeIn(ort, sessionOptions) {
  const model = await loadBundle(bundle, { ort, sessionOptions });
  for (let i = 0; i < 20; i++) await model.run([text]);
  const ms = [];
  let score;
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    score = (await model.run([text])).scores[0];
    ms.push(performance.now() - t);
  }
  await model.release();
  return { ...figures(ms), score };
}

const installed = (name) => JSON.parse(readFileSync(join(ROOT, "js", "node_modules", name, "package.json"), "utf8")).version;
const out = { node: process.version, onnxruntime: [...new Set([installed("onnxruntime-node"), installed("onnxruntime-web")])].join("/") };
out["onnxruntime-node (cpu)"] = await timeIn(ortNode, { intraOpNumThreads: 1, interOpNumThreads: 1 });
ortWeb.env.wasm.numThreads = 1;
out["onnxruntime-web (wasm, in Node)"] = await timeIn(ortWeb, { executionProviders: ["wasm"] });

const chromium = [args.chromium, "/usr/bin/chromium", "/usr/bin/chromium-headless-shell"].find((p) => p && existsSync(p));
if (chromium) {
  const { default: puppeteer } = await import("puppeteer-core");
  const server = createServer(async (req, res) => {
    const path = normalize(join(ROOT, decodeURIComponent(new URL(req.url, "http://x").pathname)));
    try {
      const types = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };
      const body = await readFile(path);
      res.writeHead(200, { "content-type": types[extname(path)] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/examples/web/index.html`);
    const result = await page.evaluate(
      async (text, repeats, url) => {
        const lib = await import("/js/src/index.js");
        await window.edgeSentiment.ready;
        const ort = await import("/js/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs");
        const model = await lib.loadBundle(new URL(url, location.href), { ort, sessionOptions: { executionProviders: ["wasm"] } });
        for (let i = 0; i < 20; i++) await model.run([text]);
        const ms = [];
        let score;
        for (let i = 0; i < repeats; i++) {
          const t = performance.now();
          score = (await model.run([text])).scores[0];
          ms.push(performance.now() - t);
        }
        return { ms, score, userAgent: navigator.userAgent };
      },
      text,
      repeats,
      `/${relative(ROOT, bundle)}/`,
    );
    out["chromium (onnxruntime-web wasm)"] = { ...figures(result.ms), score: result.score, user_agent: result.userAgent };
  } finally {
    await browser.close();
    server.close();
  }
}
console.log(JSON.stringify(out));

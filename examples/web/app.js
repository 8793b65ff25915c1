// The page's script: load the shipped bundle (served from this repository) and score what is typed.
import * as ort from "../../js/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs";
import { loadBundle } from "../../js/src/index.js";

const BUNDLE = new URL("../../src/edge_sentiment/assets/default/", import.meta.url);
ort.env.wasm.wasmPaths = new URL("../../js/node_modules/onnxruntime-web/dist/", import.meta.url).href;
ort.env.wasm.numThreads = 1; // threads need cross-origin isolation; one is enough for one review

const text = document.getElementById("text");
const result = document.getElementById("result");
const fill = document.getElementById("fill");
const status = document.getElementById("status");

async function start() {
  const t0 = performance.now();
  const model = await loadBundle(BUNDLE, { ort, sessionOptions: { executionProviders: ["wasm"] } });
  status.textContent = `bundle verified (sha256) and loaded in ${(performance.now() - t0).toFixed(0)} ms; onnxruntime-web ${ort.env.versions?.web ?? ""}`;
  let pending = 0;
  async function update() {
    const mine = ++pending;
    const t = performance.now();
    const [prediction] = await model.predict([text.value]);
    if (mine !== pending) return;
    result.textContent = `${prediction.label}  ${prediction.score.toFixed(4)}`;
    result.className = prediction.label;
    fill.style.width = `${(prediction.score * 100).toFixed(1)}%`;
    fill.style.background = prediction.label === "positive" ? "#1a7f37" : "#b42318";
    status.dataset.lastMs = (performance.now() - t).toFixed(2);
  }
  text.addEventListener("input", update);
  await update();
  return model;
}

// For tests and the curious: window.edgeSentiment.ready resolves to the loaded TextModel.
window.edgeSentiment = { ready: start().catch((error) => { result.textContent = `error: ${error.message}`; throw error; }) };

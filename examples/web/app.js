// The page's script: load onnxruntime-web and the shipped bundle (both served from this repository),
// showing the bytes as they arrive, and score what is typed. Every way the load can fail ends in a
// message that says what is wrong and what to do: runtime files missing (js/node_modules not
// installed), no answer from the server for TIMEOUT_MS (no byte arrived), a bundle file changed.
// ?timeout=MS sets the no-answer timeout (the tests use a short one).
const RUNTIME = new URL("../../js/node_modules/onnxruntime-web/dist/", import.meta.url);
const RUNTIME_MODULE = "ort.wasm.min.mjs"; // the WASM-only build: no WebGPU/WebGL code
const RUNTIME_WASM = "ort-wasm-simd-threaded.wasm"; // the smallest of its four .wasm files (js/bench/first-load.mjs)
const LIBRARY = new URL("../../js/src/index.js", import.meta.url);
const BUNDLE = new URL("../../src/edge_sentiment/assets/default/", import.meta.url);
const TIMEOUT_MS = Number(new URLSearchParams(location.search).get("timeout")) || 20_000;

const $ = (id) => document.getElementById(id);
const text = $("text");

/** A load failure the page knows how to explain: `kind` names the state, `fix` what to do. */
class PageError extends Error {
  constructor(kind, title, detail, fix) {
    super(detail);
    Object.assign(this, { kind, title, fix });
  }
}

/** An AbortSignal that fires when `poke()` has not been called for `ms` (no byte arrived). */
function watchdog(ms) {
  const controller = new AbortController();
  let timer;
  const poke = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new Error(`no answer from the server for ${ms / 1000} s`)), ms);
  };
  poke();
  return { signal: controller.signal, poke, stop: () => clearTimeout(timer) };
}

const kb = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.round(n / 1e3)} kB`);

/** The load's progress: bytes per file, and a bar that only ever shows bytes received. */
const files = new Map();
function progress(file, loaded, total) {
  files.set(file, { loaded, total });
  let got = 0;
  let all = 0;
  for (const f of files.values()) (got += f.loaded), (all += f.total);
  $("progress-fill").style.width = `${all ? ((100 * got) / all).toFixed(1) : 0}%`;
  $("progress-text").textContent = `loading: ${[...files].map(([name, f]) => `${name} ${kb(f.loaded)} of ${kb(f.total)}`).join(" · ")}`;
}

/** `url`'s bytes, reporting progress; a 404 is a missing runtime file, a stall the watchdog's abort. */
async function fetchRuntime(url, name, dog) {
  let response;
  try {
    response = await fetch(url, { signal: dog.signal });
  } catch (error) {
    throw dog.signal.aborted ? noAnswer(url, dog) : missingRuntime(url, error.message);
  }
  if (!response.ok) throw missingRuntime(url, `HTTP ${response.status}`);
  const total = Number(response.headers.get("content-length") ?? 0);
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    let part;
    try {
      part = await reader.read();
    } catch (error) {
      throw dog.signal.aborted ? noAnswer(url, dog) : error;
    }
    if (part.done) break;
    chunks.push(part.value);
    loaded += part.value.length;
    dog.poke();
    progress(name, loaded, Math.max(total, loaded));
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const chunk of chunks) bytes.set(chunk, (at += chunk.length) - chunk.length);
  return bytes;
}

const missingRuntime = (url, why) =>
  new PageError(
    "runtime-missing",
    "onnxruntime-web is not installed where this page looks for it",
    `${url.pathname} could not be loaded (${why}).`,
    "Install the JavaScript packages once: cd js && npm ci --ignore-scripts, then reload. Serve the repository's root, not examples/web.",
  );

const noAnswer = (url, dog) =>
  new PageError(
    "timeout",
    "The server stopped answering",
    `${dog.signal.reason?.message ?? "timed out"} while loading ${url.pathname ?? url}.`,
    "Check that the server (python -m http.server at the repository's root) is still running, then reload.",
  );

/** Import a module, failing with the page's messages rather than hanging or showing a raw TypeError. */
async function importOrExplain(url, dog) {
  const timeout = new Promise((_, reject) => dog.signal.addEventListener("abort", () => reject(noAnswer(url, dog)), { once: true }));
  timeout.catch(() => {});
  try {
    return await Promise.race([import(url.href), timeout]);
  } catch (error) {
    if (error instanceof PageError) throw error;
    throw missingRuntime(url, error.message);
  }
}

/** What the model is, from the bundle's manifest: its data, size, architecture and test accuracy (all escaped: a manifest is input). */
function modelCard(manifest) {
  const training = manifest.training ?? {};
  const imdb = /aclImdb|imdb/i.test(`${training.data?.path ?? ""} ${manifest.parity?.source ?? ""}`);
  // the accuracy as the bundle labels: after its calibration where one was measured on the test reviews
  const calibrated = manifest.calibration?.evaluated_on;
  const accuracy = /test/i.test(calibrated?.texts?.source ?? "") ? calibrated.after?.accuracy : training.test_accuracy;
  const count = (n, otherwise) => escape(Number.isSafeInteger(n) ? n.toLocaleString("en") : otherwise);
  const split = training.recipe?.validation_split;  // held out of training for validation (and calibration)
  const trained = Number.isSafeInteger(training.train_reviews) && typeof split === "number" && split > 0 && split < 1
    ? training.train_reviews - Math.round(training.train_reviews * split)
    : training.train_reviews;
  const parts = [
    imdb
      ? `A sentiment classifier for <b>English movie reviews</b> (IMDB): trained on ${count(trained, "some")} of them`
      : "A sentiment classifier (its training data is not named in the bundle)",
    typeof accuracy === "number"
      ? `<b>${escape((100 * accuracy).toFixed(1))} % accurate</b> on ${count(training.test_reviews, "some")} held-out ${imdb ? "reviews" : "texts"}`
      : "no test accuracy recorded",
  ];
  $("card").innerHTML = `${parts.join("; ")}. ${escape(manifest.model?.architecture ?? "")}, ${escape(kb(manifest.files["model.text.onnx"].bytes))}. Other kinds of text (tweets, product reviews, other languages) get scores with no measured accuracy.`;
}
const escape = (s) => String(s).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

function showError(error) {
  const known = error instanceof PageError;
  const tampered = /sha256|truncated or was changed|bytes but the manifest says/.test(error.message);
  const kind = known ? error.kind : tampered ? "tampered" : "bundle";
  const title = known ? error.title : tampered ? "The bundle's files were changed" : "The bundle could not be loaded";
  const fix = known
    ? error.fix
    : tampered
      ? "The model file does not match the sha256 in manifest.json, so it was not run. Restore the shipped bundle (git checkout src/edge_sentiment/assets/default) or re-export it."
      : "See the message; re-export the bundle or reinstall js/ (cd js && npm ci --ignore-scripts).";
  document.body.dataset.state = "error";
  document.body.dataset.error = kind;
  $("error-title").textContent = title;
  $("error-detail").textContent = error.message;
  $("error-fix").textContent = fix;
  $("error").hidden = false;
  $("loading").hidden = true;
}

/** The label, the (calibrated) confidence in it, and the bundle's decision: threshold, calibration, uncertain band. */
function showPrediction(model, prediction) {
  const { uncertain } = model.decision;
  const positive = model.classes === 1 ? prediction.score : null;
  const band = uncertain !== null && prediction.label === uncertain.label;
  // the confidence in the label shown: P(positive) for "positive", 1 - P(positive) for "negative"; in the band, the larger
  const confidence =
    positive === null ? prediction.score : band ? Math.max(positive, 1 - positive) : prediction.label === model.labels[1] ? positive : 1 - positive;
  const kind = positive === null ? prediction.label : band ? "uncertain" : prediction.label === model.labels[1] ? "positive" : "negative";
  $("label").textContent = prediction.label;
  $("label").className = kind;
  $("confidence").textContent = band
    ? `${(100 * positive).toFixed(1)} % ${model.labels[1]}: too close to call`
    : `${(100 * confidence).toFixed(1)} % confident`;
  $("meter").value = confidence;
  $("meter").className = kind;
  $("band").hidden = !band;
  $("band").textContent = band
    ? `P(${model.labels[1]}) is in the bundle's uncertain band [${uncertain.low}, ${uncertain.high}): it labels such texts "${uncertain.label}" rather than guess.`
    : "";
  const calibration = model.manifest.calibration;
  const decision = [
    positive === null ? "" : `P(${model.labels[1]}) = ${positive.toFixed(4)}, threshold ${model.threshold}`,
    calibration && !model.decision.identity ? `calibrated (temperature ${Number(calibration.temperature.toPrecision(4))}${calibration.bias ? `, bias ${Number(calibration.bias.toPrecision(3))}` : ""})` : "",
    uncertain ? `uncertain in [${uncertain.low}, ${uncertain.high})` : "",
  ];
  $("raw").textContent = decision.filter(Boolean).join(", ");
}

/** The text with its most positive and most negative words marked: colour, a sign, a title and text for screen readers. */
function showExplanation(explanation) {
  const { text: shown, towards } = explanation;
  const marks = [...explanation.topPositive.map((w) => [w, "up"]), ...explanation.topNegative.map((w) => [w, "down"])].sort((a, b) => a[0].start - b[0].start);
  const box = $("explained");
  box.replaceChildren();
  let at = 0;
  for (const [word, way] of marks) {
    box.append(shown.slice(at, word.start)); // text nodes: the review is never parsed as HTML
    const mark = document.createElement("mark");
    const says = `${way === "up" ? "raised" : "lowered"} P(${towards}) by ${Math.abs(word.effect).toFixed(3)}`;
    mark.className = way;
    mark.title = says;
    const sign = Object.assign(document.createElement("span"), { className: "sign", textContent: way === "up" ? "+" : "−" });
    sign.setAttribute("aria-hidden", "true");
    const spoken = Object.assign(document.createElement("span"), { className: "sr-only", textContent: ` (${says})` });
    mark.append(word.word, sign, spoken);
    box.append(mark);
    at = word.end;
  }
  box.append(shown.slice(at));
  const list = (words) => words.map((w) => `“${w.word}” (${w.effect > 0 ? "+" : "−"}${Math.abs(w.effect).toFixed(3)})`).join(", ") || "none";
  $("explain-summary").textContent =
    `Leaving each word out: ${list(explanation.topPositive)} raised P(${towards}) most; ${list(explanation.topNegative)} lowered it most. ` +
    `${explanation.words.length} words, ${explanation.variants} variants scored in one batch in ${explanation.ms.toFixed(0)} ms.` +
    (explanation.note ? ` Note: ${explanation.note}.` : "");
  $("explained").dataset.ms = explanation.ms.toFixed(1);
}

async function start() {
  const t0 = performance.now();
  const dog = watchdog(TIMEOUT_MS);
  try {
    const wasm = fetchRuntime(new URL(RUNTIME_WASM, RUNTIME), RUNTIME_WASM, dog);
    wasm.catch(() => {}); // awaited below, before any session; an import failure may be reported first
    const ort = await importOrExplain(new URL(RUNTIME_MODULE, RUNTIME), dog);
    const lib = await importOrExplain(LIBRARY, dog);
    ort.env.wasm.wasmPaths = RUNTIME.href;
    ort.env.wasm.numThreads = 1; // threads need cross-origin isolation; one is enough for one review
    // the session starts only once the .wasm fetched above is in (else onnxruntime-web would fetch it again)
    let wasmError = null;
    const create = async (...args) => {
      ort.env.wasm.wasmBinary = await wasm.catch((error) => Promise.reject((wasmError = error)));
      return ort.InferenceSession.create(...args);
    };
    const model = await lib
      .loadBundle(BUNDLE, {
        ort: { ...ort, InferenceSession: { create } },
        signal: dog.signal,
        sessionOptions: { executionProviders: ["wasm"] },
        onProgress: ({ file, loaded, total }) => (dog.poke(), progress(file, loaded, total)),
      })
      .catch((error) => {
        const waiting = [...files].find(([name, f]) => name !== RUNTIME_WASM && f.loaded < f.total)?.[0] ?? "";
        throw wasmError ?? (dog.signal.aborted ? noAnswer(new URL(waiting, BUNDLE), dog) : error);
      });
    dog.stop();
    modelCard(model.manifest);
    const loadMs = performance.now() - t0;
    let bytes = 0;
    for (const f of files.values()) bytes += f.loaded;
    $("status").textContent = `loaded ${kb(bytes)} and verified the bundle (sha256) in ${(loadMs / 1000).toFixed(1)} s; onnxruntime-web ${ort.env.versions?.web ?? ""}, one WASM thread`;
    $("loading").hidden = true;
    $("scored").hidden = false;
    // one model call at a time (a session runs one batch at once), and only the latest text's
    let pending = 0;
    let queue = Promise.resolve();
    let explaining = false;
    async function update() {
      const mine = ++pending;
      const work = async () => {
        if (mine !== pending) return;
        const value = text.value;
        const t = performance.now();
        const [prediction] = await model.predict([value]);
        if (mine !== pending) return;
        showPrediction(model, prediction);
        $("status").dataset.lastMs = (performance.now() - t).toFixed(2);
        if (explaining) {
          const explanation = await model.explain(value, { top: 3 });
          if (mine !== pending) return;
          showExplanation(explanation);
        }
        document.body.dataset.state = "ready";
      };
      await (queue = queue.then(work, work));
    }
    $("explain-toggle").addEventListener("click", () => {
      explaining = !explaining;
      $("explain-toggle").setAttribute("aria-pressed", String(explaining));
      $("explanation").hidden = !explaining;
      document.body.dataset.state = "scoring";
      update();
    });
    text.addEventListener("input", update);
    await update();
    document.body.dataset.firstScoreMs = (performance.now() - t0).toFixed(0);
    return model;
  } catch (error) {
    dog.stop();
    showError(error);
    throw error;
  }
}

// For tests and the curious: window.edgeSentiment.ready resolves to the loaded TextModel.
window.edgeSentiment = { ready: start() };
window.edgeSentiment.ready.catch(() => {});

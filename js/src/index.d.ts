// Types of edge-sentiment's JavaScript package (src/index.js).

/**
 * The onnxruntime module to run on: `import * as ort from "onnxruntime-node"` or `"onnxruntime-web"`.
 * Typed loosely on purpose (method syntax, `unknown` tensor data) so that both packages' own, wider
 * types are accepted under `tsc --strict`: this package checks what a session returns at run time.
 */
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: object): Promise<OrtSession> };
  Tensor: new (type: "string", data: string[], dims: readonly number[]) => unknown;
}

/** A tensor as a session returns it; the package checks its dims and reads its data at run time. */
export interface OrtTensorLike {
  readonly data: unknown;
  readonly dims: readonly number[];
}

export interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensorLike>>;
  release?(): Promise<void>;
}

/** Bytes read so far of one bundle file (`total` from the manifest), for a progress bar. */
export interface LoadProgress {
  file: string;
  loaded: number;
  total: number;
}

export interface LoadOptions {
  ort: OrtModule;
  sessionOptions?: object;
  /** Called as each file's bytes arrive (URLs) or once it is read (folders). */
  onProgress?: (progress: LoadProgress) => void;
  /** Aborts the fetches: loadBundle then rejects with a BundleError naming the file. */
  signal?: AbortSignal;
  /** false: the model's own probabilities, without the manifest's calibration (the threshold and band still label them). Default true. */
  calibrated?: boolean;
}

export const FORMAT: "edge-sentiment/bundle";
export const FORMAT_VERSION: number;
export const TEXT_MODEL_FILE: "model.text.onnx";
export const CONFORMANCE_FILE: "conformance.jsonl";
export const ATOL: number;
/** The most ids a tokenizer gives one text: the manifest's max_len at most. */
export const MAX_IDS_PER_TEXT: number;
/** The most characters (Unicode code points) of one text the graph is given: a longer text is cut to the end holding its last max_len words, or refused. */
export const MAX_TEXT_CHARS: number;
/** The longest text explain takes, in code points. */
export const MAX_EXPLAIN_CHARS: number;
/** Probabilities are clipped to [CLIP, 1 - CLIP] before the calibration's logit. */
export const CLIP: number;
/** The characters explain splits words at (a RegExp character-class body): whitespace to both Python and JavaScript. */
export const WHITESPACE: string;
/** The ops a bundle's models may hold (the Python runtime's allow-list); anything else is refused at load. */
export const ALLOWED_OPS: ReadonlySet<string>;
/** The ops a model.text.onnx adds in front of model.onnx's. */
export const TEXT_OPS: ReadonlySet<string>;
/** The largest manifest.json, model.text.onnx and conformance.jsonl the loader reads, in bytes. */
export const MAX_BYTES: Readonly<Record<"manifest.json" | "model.text.onnx" | "conformance.jsonl", number>>;

export class BundleError extends Error {}
/** A text or an option the model cannot take: a lone surrogate, a text over MAX_TEXT_CHARS with nowhere to cut it, a bad explain option. */
export class InputError extends Error {}

/** The bundle's manifest.json (docs/bundle-format.md); only the fields this package reads are typed. */
export interface Manifest {
  format: "edge-sentiment/bundle";
  format_version: number;
  labels?: string[];
  threshold?: number;
  /** The runtime's calibration of the model's probabilities (runtime/decision.py); other keys are its figures. */
  calibration?: { temperature: number; bias?: number; [key: string]: unknown };
  /** A two-label bundle's third label, for calibrated scores in [low, high). */
  uncertain?: { low: number; high: number; label?: string };
  files: Record<string, { sha256: string; bytes: number }>;
  model: { classes?: number; max_len: number; [key: string]: unknown };
  text_model?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface Prediction {
  label: string;
  score: number;
  probabilities?: number[];
  /** A multi-label bundle's (manifest model.head "multi-label"): every label at or over the threshold. */
  labels?: string[];
}

/** One word of an explained text: its span [start, end) in UTF-16 offsets (text.slice(start, end) === word) and its effect. */
export interface ExplainedWord {
  word: string;
  start: number;
  end: number;
  /** score(text) - score(text without the word); 0 where the model reads no difference; null where not examined. */
  effect: number | null;
}

export interface ExplainOptions {
  /** How many of the most positive and the most negative words to list (default 5). */
  top?: number;
  /** The most words examined, the last ones (default: the manifest's max_len). */
  maxWords?: number;
}

/** Each word's effect on a text's score (the Python runtime's Predictor.explain, the same algorithm). */
export interface Explanation {
  text: string;
  label: string;
  /** The shown score: P(labels[1]) for two labels, else the label's probability. */
  score: number;
  /** The label a positive effect pushes towards. */
  towards: string;
  words: ExplainedWord[];
  /** The words that raised the score most, largest effect first. */
  topPositive: ExplainedWord[];
  /** The words that lowered it most, most negative first. */
  topNegative: ExplainedWord[];
  /** Variants whose ids differ from the text's (distinct ones). */
  variants: number;
  examined: number;
  /** Examined words whose removal changes no id: effect 0. */
  unchanged: number;
  ms: number;
  note: string | null;
  probabilities?: number[];
  labels?: string[];
}

/** The decision layer: calibration, threshold and uncertain band, read from the manifest (runtime/decision.py). */
export class Decision {
  readonly temperature: number;
  readonly bias: number;
  readonly threshold: number;
  readonly uncertain: { low: number; high: number; label: string } | null;
  readonly head: "sigmoid" | "softmax" | "multi-label";
  static fromManifest(manifest: { model: { classes?: number; head?: string }; threshold?: number; calibration?: Manifest["calibration"]; uncertain?: Manifest["uncertain"] }, calibrated?: boolean): Decision;
  readonly identity: boolean;
  /** sigmoid(logit(p) / T + b) in float64, p clipped to [CLIP, 1 - CLIP], returned as float32. */
  calibrateOne(p: number): number;
  /** A row of k probabilities: softmax(log(p) / T) for a softmax head, each label alone otherwise. */
  calibrateRow(row: number[]): number[];
  labelOf(score: number, labels: string[]): string;
  predictions(scores: Array<number | number[]>, labels: string[]): Prediction[];
}

/** What is wrong with a manifest's calibration and uncertain band, in runtime/bundle.py's words ([] if nothing). */
export function decisionProblems(manifest: Record<string, unknown>, head: string): string[];

/** The part of a text a tokenizer keeping its last n words reads (runtime/tokenizer.py text_window, "pre"). */
export function textWindow(text: string, n: number): string;

/** The spans [start, end) of a text's words, as explain splits them. */
export function wordSpans(text: string): Array<[number, number]>;

/** The text without word i (its span and the whitespace after it, else before it): explain's variant. */
export function without(text: string, spans: Array<[number, number]>, i: number): string;

export interface RunResult {
  /** One probability per text (one sigmoid output), or one array of k per text. */
  scores: Array<number | number[]>;
  /** The ids the graph fed the model, per text (pads dropped). */
  ids: number[][];
}

/** Unicode NFKC, the one step the host does before the graph. */
export function prepare(text: string): string;

export class TextModel {
  readonly manifest: Manifest;
  readonly classes: number;
  readonly labels: string[];
  readonly threshold: number;
  readonly head: "sigmoid" | "softmax" | "multi-label";
  readonly maxLen: number;
  readonly decision: Decision;
  /** Calibrated scores and ids; a text over MAX_TEXT_CHARS / 64 characters is given to the graph as the end holding its last max_len words. */
  run(texts: string[]): Promise<RunResult>;
  /** The model's own scores, without the manifest's calibration (what conformance.jsonl holds), and the ids. */
  runModel(texts: string[], decision?: Decision): Promise<RunResult>;
  predictProba(texts: string | Iterable<string>, batchSize?: number): Promise<Array<number | number[]>>;
  /** Labelled with the manifest's threshold, and its uncertain band's label between low and high. */
  predict(texts: string | Iterable<string>): Promise<Prediction[]>;
  /** Each word's effect on the score, by leaving it out: the text and every variant scored as one batch. */
  explain(text: string, options?: ExplainOptions): Promise<Explanation>;
  release(): Promise<void>;
}

/**
 * Load a bundle: a folder path or a `file:` URL (Node), or an http(s) URL; verify its manifest and model.text.onnx as the Python runtime does
 * (sha256, size caps, plain files, one origin, allowed ops only, no external data or functions), then
 * open a session. BundleError, before any session, for whatever fails.
 */
export function loadBundle(source: string | URL, options: LoadOptions): Promise<TextModel>;

export interface Vector {
  text: string;
  ids: number[];
  score: number | number[];
}

export function loadConformance(source: string | URL, manifest: Manifest, options?: { signal?: AbortSignal }): Promise<Vector[]>;

export interface ConformanceResult {
  texts: number;
  identical: number;
  maxAbsDiff: number;
  firstFailure: null | { index: number; text: string; ids: number[]; expected: number[]; score: unknown; expectedScore: unknown };
  passed: boolean;
}

export function checkConformance(model: TextModel, vectors: Vector[], batchSize?: number): Promise<ConformanceResult>;

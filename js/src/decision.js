// The decision layer a bundle carries, as the Python runtime applies it (src/edge_sentiment/runtime/decision.py):
// the manifest's "calibration" {temperature T, bias b} turns the model's float32 output p into
// sigmoid(logit(p) / T + b) (a sigmoid or multi-label head, each label alone) or softmax(log(p) / T)
// (a softmax head), computed in float64 with p clipped to [CLIP, 1 - CLIP] and returned as float32;
// "threshold" labels a two-label bundle's score (positive at or over it) and a multi-label bundle's labels;
// "uncertain" {low, high, label} gives a two-label bundle's scores in [low, high) a third label.

/** Probabilities are clipped to [CLIP, 1 - CLIP] before their logit (float32's resolution near 1). */
export const CLIP = 1e-7;
export const DEFAULT_LABELS = ["negative", "positive"];

const isNumber = (value) => typeof value === "number" && Number.isFinite(value);
const isObject = (value) => typeof value === "object" && value !== null && !Array.isArray(value);
const field = (object, key, otherwise) => (Object.hasOwn(object, key) ? object[key] : otherwise);

/** What is wrong with the manifest's calibration and uncertain band: runtime/bundle.py's decision_problems, the same order and words. */
export function decisionProblems(manifest, head) {
  const problems = [];
  if (Object.hasOwn(manifest, "calibration") && manifest.calibration !== null) {
    const calibration = manifest.calibration;
    const bias = isObject(calibration) ? field(calibration, "bias", 0) : 0;
    if (!isObject(calibration) || !isNumber(calibration.temperature)) {
      problems.push("calibration has no numeric temperature");
    } else if (!(calibration.temperature >= 0.01 && calibration.temperature <= 100) || !isNumber(bias)) {
      problems.push("calibration's temperature must be within 0.01..100 and its bias a number");
    } else if (head === "softmax" && bias !== 0) {
      problems.push("calibration has a bias, which a softmax head cannot take");
    } else if (Math.abs(bias) > 100) {
      problems.push("calibration's bias must be within -100..100");
    }
  }
  if (Object.hasOwn(manifest, "uncertain") && manifest.uncertain !== null) {
    const uncertain = manifest.uncertain;
    const threshold = field(manifest, "threshold", 0.5);
    const label = isObject(uncertain) ? field(uncertain, "label", "uncertain") : "uncertain";
    if (head !== "sigmoid") {
      problems.push("an uncertain band needs a two-label bundle");
    } else if (
      !isObject(uncertain) ||
      !isNumber(uncertain.low) ||
      !isNumber(uncertain.high) ||
      !(uncertain.low > 0 && uncertain.low <= threshold && threshold <= uncertain.high && uncertain.high < 1) ||
      uncertain.low === uncertain.high
    ) {
      problems.push("uncertain must be {'low': lo, 'high': hi} with 0 < lo <= threshold <= hi < 1 and lo < hi");
    } else if (typeof label !== "string" || !label.trim()) {
      problems.push("uncertain's label must be a non-empty string");
    } else if (field(manifest, "labels", DEFAULT_LABELS).includes(label)) {
      problems.push("uncertain's label must differ from the bundle's labels");
    }
  }
  return problems;
}

/** How a bundle turns the model's output into the probabilities and labels it reports (read from a checked manifest). */
export class Decision {
  constructor({ temperature = 1, bias = 0, threshold = 0.5, uncertain = null, head = "sigmoid" } = {}) {
    Object.assign(this, { temperature, bias, threshold, uncertain, head });
    Object.freeze(this);
  }

  /** The manifest's decision; calibrated = false: the model's own scores (the threshold and band still label them). */
  static fromManifest(manifest, calibrated = true) {
    const classes = manifest.model?.classes ?? 1;
    const calibration = calibrated ? manifest.calibration : null;
    const uncertain = manifest.uncertain;
    return new Decision({
      temperature: calibration ? calibration.temperature : 1,
      bias: calibration ? (calibration.bias ?? 0) : 0,
      threshold: manifest.threshold ?? 0.5,
      uncertain: uncertain ? { low: uncertain.low, high: uncertain.high, label: uncertain.label ?? "uncertain" } : null,
      head: manifest.model?.head ?? (classes === 1 ? "sigmoid" : "softmax"),
    });
  }

  get identity() {
    return this.temperature === 1 && this.bias === 0;
  }

  /** One calibrated sigmoid score: float64 math on the clipped float32 p, a float32 result. */
  calibrateOne(p) {
    if (this.identity) return p;
    const q = Math.min(Math.max(p, CLIP), 1 - CLIP);
    return Math.fround(1 / (1 + Math.exp(-((Math.log(q) - Math.log1p(-q)) / this.temperature + this.bias))));
  }

  /** One row of k calibrated probabilities: softmax(log(p) / T) for a softmax head, each label alone otherwise. */
  calibrateRow(row) {
    if (this.identity) return row;
    if (this.head !== "softmax") return row.map((p) => this.calibrateOne(p));
    const z = row.map((p) => Math.log(Math.min(Math.max(p, CLIP), 1 - CLIP)) / this.temperature);
    const top = Math.max(...z);
    const e = z.map((v) => Math.exp(v - top));
    let sum = 0;
    for (const v of e) sum += v;
    return e.map((v) => Math.fround(v / sum));
  }

  /** The label of one two-label score: the band's label in [low, high), else labels[1] at or over the threshold. */
  labelOf(score, labels) {
    if (this.uncertain) {
      const { low, high, label } = this.uncertain;
      return score >= high ? labels[1] : score < low ? labels[0] : label;
    }
    return labels[score >= this.threshold ? 1 : 0];
  }

  /** A prediction for each (calibrated) score: a number (one output) or an array of k. */
  predictions(scores, labels) {
    return scores.map((score) => {
      if (typeof score === "number") return { label: this.labelOf(score, labels), score };
      let best = 0;
      for (let i = 1; i < score.length; i++) if (score[i] > score[best]) best = i;
      const prediction = { label: labels[best], score: score[best], probabilities: score };
      if (this.head === "multi-label") prediction.labels = labels.filter((_, i) => score[i] >= this.threshold);
      return prediction;
    });
  }
}

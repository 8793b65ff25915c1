"""Run the standard comparison and rewrite tools/benchmarks/results/RESULTS.md (plus results.json and latency.png).

    python tools/benchmarks/run.py --bundle bundles/lab --keras-model runs/lab/model.keras \
        --data ../shared/data/aclImdb.tar.gz

It calls `edge-sentiment bench` itself, so the figures in RESULTS.md are what that command printed.
RESULTS.md also shows `results/lstm_kernel.json`, when `python tools/benchmarks/lstm_kernel.py --json-file
tools/benchmarks/results/lstm_kernel.json` has written it, and `results/accuracy_latency.json` with its plot, when
`python tools/benchmarks/accuracy_latency.py` has. `--render-only` rewrites RESULTS.md from the saved JSON.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"  # what the benchmarks write, beside the scripts
ROOT = Path(__file__).resolve().parents[2]  # the project: paths are shown as run from here


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default=None, help="bundle to measure (default: the shipped one)")
    parser.add_argument("--keras-model", default=None, help="the .keras the bundle came from (for --compare keras)")
    parser.add_argument("--data", default=None, help="the IMDB archive (default: $EDGE_SENTIMENT_DATA)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--batch-sizes", default="1,64")
    parser.add_argument("--precision", default="fp32,int8")
    parser.add_argument("--throughput-texts", default="25000", help="texts per throughput run (25000 = the test set)")
    parser.add_argument("--no-keras", action="store_true", help="skip the Keras comparison")
    parser.add_argument("--runs", type=int, default=2, help="repeat the whole benchmark; RESULTS.md shows each run")
    parser.add_argument(
        "--render-only", action="store_true", help="measure nothing: rewrite RESULTS.md from results.json and lstm_kernel.json"
    )
    args = parser.parse_args()

    if args.render_only:
        saved = json.loads((RESULTS / "results.json").read_text(encoding="utf-8"))
        shown, reports = saved["command"], saved["runs"]
    else:
        shown, reports = _measure(args)
        for report in reports:  # the bundle as run from the project's root, not this machine's path
            for key in ("bundle", "command"):
                report[key] = report[key].replace(str(ROOT) + "/", "")
        (RESULTS / "results.json").write_text(json.dumps({"command": shown, "runs": reports}, indent=2) + "\n", encoding="utf-8")
    report = reports[-1]

    sys.path.insert(0, str(ROOT / "src"))
    from edge_sentiment.bench.report import render_text

    lines = [
        "# Benchmark results",
        "",
        "Written by `python tools/benchmarks/run.py` from one run of:",
        "",
        f"    {shown}",
        "",
        "Shared, noisy 2-core machine: trust the ratios between engines of the same run more than",
        "absolute times. Raw figures: `results.json` (every run); plot: `latency.png` (the last run).",
        "",
        _per_run(reports),
        "",
        f"The last run in full ({len(reports)} of {len(reports)}):",
        "",
        "```",
        render_text(report),
        "```",
        "",
        "![latency by review length](latency.png)",
        "",
        _where_time_goes(report),
        _kernel_section(),
        _accuracy_section(),
        _litert_section(),
    ]
    (RESULTS / "RESULTS.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(render_text(report))


def _measure(args: argparse.Namespace) -> tuple[str, list[dict]]:
    """Run `edge-sentiment bench --json` args.runs times; returns the command as shown and the reports."""
    cmd = [
        "edge-sentiment",
        "bench",
        "--threads",
        args.threads,
        "--batch-sizes",
        args.batch_sizes,
        "--precision",
        args.precision,
        "--throughput-texts",
        args.throughput_texts,
        "--plot",
        str(RESULTS / "latency.png"),
        "--json",
    ]
    for flag, value in (("--bundle", args.bundle), ("--data", args.data), ("--keras-model", args.keras_model)):
        if value:
            cmd += [flag, value]
    if not args.no_keras:
        cmd += ["--compare", "keras"]
    shown = shlex.join(cmd).replace(str(ROOT) + "/", "")
    print(f"$ {shown}", file=sys.stderr)
    exe = [sys.executable, "-m", "edge_sentiment", *cmd[1:]]
    reports = []
    for i in range(args.runs):
        print(f"run {i + 1}/{args.runs}", file=sys.stderr)
        reports.append(json.loads(subprocess.run(exe, check=True, stdout=subprocess.PIPE, text=True).stdout))
    return shown, reports


def _per_run(reports: list[dict]) -> str:
    """Headline figures of every run side by side, and their median."""
    engines = list(reports[0]["latency_batch1"])
    rows = [
        "| engine | figure | " + " | ".join(f"run {i + 1}" for i in range(len(reports))) + " | median |",
        "|---|---|" + "---|" * (len(reports) + 1),
    ]
    figures = [
        ("batch-1 end to end p50, ms", lambda r, e: r["latency_batch1"][e]["end_to_end"]["p50_ms"], "{:.3f}"),
        ("batch-1 model p50, ms", lambda r, e: r["latency_batch1"][e]["model"]["p50_ms"], "{:.3f}"),
        ("throughput batch 64, texts/s", lambda r, e: r["throughput"][e].get("64", {}).get("texts_per_s"), "{:.0f}"),
        ("throughput batch 1, texts/s", lambda r, e: r["throughput"][e].get("1", {}).get("texts_per_s"), "{:.0f}"),
        (
            "model alone (ids in) batch 64, texts/s",
            lambda r, e: r.get("throughput_model_only", {}).get(e, {}).get("64", {}).get("texts_per_s"),
            "{:.0f}",
        ),
        (
            "text-in ceiling batch 64, texts/s",
            lambda r, e: r.get("throughput_text_in_ceiling", {}).get(e, {}).get("64"),
            "{:.0f}",
        ),
        ("throughput batch 64, x Keras", lambda r, e: r["ratios"].get(e, {}).get("throughput_b64"), "{:.2f}"),
        ("model alone batch 64, x Keras", lambda r, e: r["ratios"].get(e, {}).get("model_only_b64"), "{:.2f}"),
    ]
    for e in engines:
        for name, get, fmt in figures:
            values = [get(r, e) for r in reports]
            if any(v is None for v in values):
                continue
            cells = [fmt.format(v) for v in values] + [fmt.format(statistics.median(values))]
            rows.append(f"| {e} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(["## Every run, headline figures", "", *rows])


def _where_time_goes(report: dict) -> str:
    """A few sentences computed from the figures of this run."""
    out = ["## Where the time goes (from this run)", ""]
    for key, parts in report["latency_batch1"].items():
        e2e, tok, model = (parts[p]["p50_ms"] for p in ("end_to_end", "tokenizer", "model"))
        out.append(
            f"- {key}: end to end {e2e:.3f} ms = tokenizer {tok:.3f} ms ({tok / e2e:.0%}) + model "
            f"{model:.3f} ms ({model / e2e:.0%}); the rest, {e2e - tok - model:+.3f} ms, is call overhead and "
            f"noise (each part is a separate median; a {report['sample_text_words']}-word review)."
        )
    tok = report.get("tokenizer_throughput")
    keras = report.get("throughput", {}).get("keras", {})
    for key, sizes in report.get("throughput_text_in_ceiling", {}).items():
        for b, ceiling in sizes.items():
            text_in = report["throughput"][key][b]["texts_per_s"]
            model = report["throughput_model_only"][key][b]["texts_per_s"]
            line = (
                f"- {key}, throughput at batch {b}: text in {text_in:.0f} texts/s; the model alone (ids in) "
                f"{model:.0f}/s and the tokenizer alone {tok['texts_per_s']:.0f}/s on one thread, so text in "
                f"could reach {ceiling:.0f}/s with both spread over the threads and no waits "
                f"({text_in / ceiling:.0%} of it reached)"
            )
            if b in keras:
                line += f"; that ceiling is {ceiling / keras[b]['texts_per_s']:.2f}x Keras's text-in figure"
            out.append(line + ".")
    return "\n".join(out)


def _kernel_section() -> str:
    """The LSTM kernel's per-step cost and the throughput split, from lstm_kernel.json if it was written."""
    path = RESULTS / "lstm_kernel.json"
    if not path.exists():
        return ""
    k = json.loads(path.read_text(encoding="utf-8"))
    us = {name: f["median"] for name, f in k["us_per_step"].items()}
    floor = us["no-recurrence floor"]
    out = [
        "",
        "## Inside the model: the LSTM kernel",
        "",
        f"From `{k['command']}` ({k['date']}, onnxruntime {k['onnxruntime']}; median of {k['rounds']} rounds; "
        "batch 1, one thread; slope of time against length, so fixed per-call costs drop out):",
        "",
        "| graph | µs per word step | × no-recurrence floor | 172 words, ms |",
        "|---|---|---|---|",
    ]
    out += [f"| {name} | {v:.2f} | {v / floor:.1f} | {v * 172 / 1000:.3f} |" for name, v in us.items()]
    target = 0.25 / 172 * 1000  # issue #6: 0.25 ms for the 172-word review
    out += [
        "",
        f"- onnxruntime's bare `LSTM` op with the bundle's weights takes {us['bare LSTM op'] / us['bundle fp32']:.0%} "
        "of the whole model's time per word (embedding lookup, padding skip, LSTM, dense).",
        f"- The 0.25 ms target for 172 words needs {target:.2f} µs per word: {us['bundle fp32'] / target:.1f}x "
        f"less than the model here; the no-recurrence floor (the same multiply-adds as one batched MatMul, which "
        f"an LSTM cannot do: step t needs h from step t-1) alone uses {floor / target:.0%} of that budget.",
    ]
    if "bundle int8" in us:
        out.append(
            f"- int8 at batch 1: {us['bundle fp32'] / us['bundle int8']:.2f}x the fp32 speed per word "
            "(`DynamicQuantizeLSTM` re-quantizes h at every step)."
        )
    for precision, rates in k.get("throughput", {}).items():
        med = {part: statistics.median(v) for part, v in rates.items()}
        out.append(
            f"- Whole test set, {precision}, 2 threads, batch 64: text in {med['texts']:.0f} texts/s; model alone "
            f"(token ids in) {med['ids']:.0f}/s; tokenizer alone {med['tokenizer']:.0f}/s (pure Python, one "
            f"core at a time under the GIL). Against the 6,000 texts/s target: {med['texts'] / 6000:.0%} text "
            f"in, {med['ids'] / 6000:.0%} for the model alone."
        )
    return "\n".join(out)


def _litert_section() -> str:
    """The comparison with LiteRT, from results/litert.md when tools/benchmarks/litert.py has written it."""
    path = RESULTS / "litert.md"
    return "\n" + path.read_text(encoding="utf-8").rstrip("\n") if path.exists() else ""


def _accuracy_section() -> str:
    """Accuracy per microsecond, from results/accuracy_latency.json if it was written."""
    path = RESULTS / "accuracy_latency.json"
    if not path.exists():
        return ""
    a = json.loads(path.read_text(encoding="utf-8"))
    out = [
        "",
        "## Accuracy per microsecond",
        "",
        f"From `{a['command']}` ({a['date']}; validation reviews, never the test set; batch-1 p50 of the 172-word "
        f"review, text in, median of {a['rounds']} interleaved rounds in one process):",
        "",
        "| shape | validation: whole | first 10 words | last 10 words | batch 1, threads=1 | threads=2 | bundle, all its files |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in sorted(a["rows"], key=lambda r: r["latency"]["t1_p50_ms"]):
        v, lat = row["validation"], row["latency"]
        out.append(
            f"| {row['name']} | {v['full']:.4f} | {v['first_10']:.4f} | {v['last_10']:.4f} | {lat['t1_p50_ms']:.3f} ms "
            f"| {lat['t2_p50_ms']:.3f} ms | {row['bundle_bytes'] / 1024:,.0f} KiB |"
        )
    out += [
        "",
        "(The shipped bundles also hold model.int8.onnx and model.text.onnx; the others were exported with neither.)",
        "",
        "![validation accuracy against batch-1 latency](accuracy_latency.png)",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    main()

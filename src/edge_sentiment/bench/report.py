"""Renders a benchmark report as text tables and a PNG plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError

__all__ = ["render_text", "plot"]


def _header(report: dict[str, Any]) -> list[str]:
    m = report["machine"]
    v = m["versions"]
    return [
        f"edge-sentiment bench, {report['created']}",
        f"machine: {m['cpu']} ({m['arch']}), {m['cores']} cores ({m['usable_cores']} usable), "
        f"ISA: {' '.join(m['isa']) or 'n/a'}; {m['os']}",
        f"versions: python {m['python']}, onnxruntime {v.get('onnxruntime')}, numpy {v.get('numpy')}, "
        f"edge-sentiment {v.get('edge-sentiment')}" + (f", tensorflow {v['tensorflow']}" if "keras" in report["engines"] else ""),
        f"bundle: {report['bundle']} (created {report['bundle_created']})",
        f"texts: {report['texts']}; batch-1 sample: a {report['sample_text_words']}-word review",
        "engines: " + "; ".join(f"{k} = {n}" for k, n in report["engines"].items()),
    ]


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return [_row(head, widths), _row(["-" * w for w in widths], widths), *(_row(r, widths) for r in rows)]


def render_text(report: dict[str, Any]) -> str:
    out = _header(report)
    out += ["", "Batch-1 latency, ms (median / p95 / p99, IQR), after warm-up:"]
    rows = []
    for key, parts in report["latency_batch1"].items():
        for part in ("end_to_end", "tokenizer", "model"):
            s = parts[part]
            rows.append(
                [
                    key,
                    part.replace("_", " "),
                    f"{s['p50_ms']:.3f}",
                    f"{s['p95_ms']:.3f}",
                    f"{s['p99_ms']:.3f}",
                    f"{s['iqr_ms']:.3f}",
                    str(s["n"]),
                ]
            )
    out += _table(["engine", "part", "p50", "p95", "p99", "IQR", "n"], rows)

    out += ["", "Batch-1 end-to-end latency by review length (words), ms p50 (p95):"]
    buckets = list(next(iter(report["latency_by_length"].values())).keys())
    rows = [
        [key, *(f"{b[k]['p50_ms']:.2f} ({b[k]['p95_ms']:.2f})" if k in b else "-" for k in buckets)]
        for key, b in report["latency_by_length"].items()
    ]
    out += _table(["engine", *buckets], rows)

    out += ["", "Throughput, texts/s (text in, score out; median of 3 runs; texts per run in the JSON):"]
    sizes = list(next(iter(report["throughput"].values())).keys())
    rows = [[key, *(f"{t[b]['texts_per_s']:.0f}" for b in sizes)] for key, t in report["throughput"].items()]
    out += _table(["engine", *(f"batch {b}" for b in sizes)], rows)

    if report.get("throughput_model_only"):
        model_only, ceiling = report["throughput_model_only"], report.get("throughput_text_in_ceiling", {})
        sizes = list(next(iter(model_only.values())).keys())
        tok = report["tokenizer_throughput"]["texts_per_s"]
        out += [
            "",
            "Where throughput's time goes, texts/s: the model alone (ids in), and text in's ceiling: the model's",
            f"time and the tokenizer's ({tok:.0f} texts/s on one thread) spread over the engine's threads, no waits:",
        ]
        rows = []
        for key, t in model_only.items():
            ceilings = (f"{ceiling[key][b]:.0f}" if key in ceiling else "-" for b in sizes)
            rows.append([key, *(f"{t[b]['texts_per_s']:.0f}" for b in sizes), *ceilings])
        out += _table(["engine", *(f"model b{b}" for b in sizes), *(f"ceiling b{b}" for b in sizes)], rows)

    if "cold_start" in report:
        out += ["", "Cold start in a fresh process (import, load, first prediction), median:"]
        rows = []
        for key, c in report["cold_start"].items():
            phases = c.get("phases_s", {})
            rows.append(
                [
                    key,
                    f"{c['wall_s']:.2f}",
                    f"{c['peak_rss_mib']:.0f}",
                    f"{phases.get('import', float('nan')):.2f}",
                    f"{phases.get('load', float('nan')):.2f}",
                    f"{phases.get('first_prediction', float('nan')):.3f}",
                    str(c["runs"]),
                ]
            )
        out += _table(["process", "wall s", "peak MiB", "import s", "load s", "1st pred s", "runs"], rows)

    ratios = report["ratios"]
    out += ["", f"Ratios (baseline {ratios['baseline']} time / engine time; > 1 means faster than the baseline):"]
    for key, row in ratios.items():
        if isinstance(row, dict):
            out.append(f"  {key}: " + ", ".join(f"{k} {v:.2f}x" for k, v in row.items()))
    for k in ("cold_start_wall", "cold_start_rss"):
        if k in ratios:
            out.append(f"  {k.replace('_', ' ')}: keras / onnx = {ratios[k]:.1f}x")
    return "\n".join(out)


def plot(report: dict[str, Any], path: str | Path) -> None:
    """Latency against review length per engine, and the batch-1 latency distribution."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependencyError.for_extra("matplotlib", "bench", "--plot") from None

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for key, pts in report["latency_points"].items():
        if pts:
            xs, ys = zip(*sorted(pts))
            left.scatter(xs, ys, s=12, label=report["engines"][key], alpha=0.7)
    left.set_xlabel("review length (words)")
    left.set_ylabel("end-to-end latency, batch 1 (ms)")
    left.set_yscale("log")
    left.set_title("Latency by review length")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    names = list(report["latency_batch1_samples_ms"])
    right.boxplot(
        [report["latency_batch1_samples_ms"][k] for k in names],
        vert=False,
        whis=(1, 99),
        showfliers=True,
        flierprops={"markersize": 2, "alpha": 0.4},
    )
    right.set_yticks(range(1, len(names) + 1), names, fontsize=8)
    right.set_xscale("log")
    right.set_xlabel(f"ms, a {report['sample_text_words']}-word review (box: quartiles, whiskers: p1-p99)")
    right.set_title("Batch-1 latency distribution, text in → score out")
    right.grid(True, which="both", axis="x", alpha=0.3)
    m = report["machine"]
    fig.suptitle(
        f"edge-sentiment bench — {m['cpu']}, {m['usable_cores']} cores, onnxruntime {m['versions'].get('onnxruntime')}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

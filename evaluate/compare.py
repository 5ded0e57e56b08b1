"""Compares evaluated runs: their curves on one plot with a legend, and a Markdown table.

  python -m evaluate.compare --workdirs runs/alexnet,runs/nostride --out runs/compare
  python -m evaluate.compare --workdirs runs/a,runs/b --labels "crop 0-4,crop 0-8" --out cmp
  python -m evaluate.compare --workdir "runs/sweep/aps,seed=0" --label aps \
      --workdir "runs/sweep/stride,seed=0" --label stride --out cmp   # names with commas

Reads each workdir's eval/eval.json (written by `python -m evaluate`) and writes into --out:
sensitivity_vs_size_<protocol>.png (P(top-1 change), MAC and accuracy versus embedding size,
one line per run, for every protocol with a size sweep), metrics_per_protocol.png (grouped
bars, one colour per run), invariance_vs_accuracy.png (one panel per protocol: each run's
P(top-1 change) against its accuracy on untransformed images) and compare.md (one row per
run and protocol).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from common.atomic_files import atomic_write_text
from evaluate import plots
from evaluate.metrics import PAIR_METRICS
from evaluate.report import SUMMARY_METRICS, format_invariance, load_report

COMPARE_MD = "compare.md"


def default_labels(workdirs: Sequence[str]) -> list[str]:
  """The last path component of each workdir (made unique by the parent if they collide)."""
  labels = [os.path.basename(os.path.normpath(w)) for w in workdirs]
  if len(set(labels)) < len(labels):
    labels = [os.path.join(*os.path.normpath(w).split(os.sep)[-2:]) for w in workdirs]
  return labels


def _format(metric: Optional[Mapping[str, Any]]) -> str:
  if not metric or metric.get("mean") is None:
    return "n/a"
  stderr = metric.get("stderr")
  return f"{metric['mean']:.4f}" + (f" ± {stderr:.4f}" if stderr is not None else "")


def markdown_table(reports: Mapping[str, Mapping[str, Any]]) -> str:
  """One row per (run, protocol): the summary metrics with standard errors."""
  lines = [
      "# Comparison of invariance evaluations",
      "",
      "Values: mean ± standard error over images; protocols with several sizes pool them "
      "with equal weight (eval.json 'pooling'). (sampled): computed on sampled points.",
      "",
      "| run | model | step | images | untransformed acc. | protocol | "
      + " | ".join(title for _, title in SUMMARY_METRICS) + " |",
      "|" + "---|" * (6 + len(SUMMARY_METRICS)),
  ]
  for label, report in reports.items():
    for name, entry in report["protocols"].items():
      cells = [label, report["model"].get("name", "?"), str(report["checkpoint_step"]),
               str(report["num_images"]), _format(report["clean_accuracy"]),
               name + (" (sampled)" if entry.get("sampled") else "")]
      cells += [format_invariance(entry["metrics"].get(key), entry.get("max_logit_change"))
                if key in PAIR_METRICS else _format(entry["metrics"].get(key))
                for key, _ in SUMMARY_METRICS]
      lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def compare_reports(reports: Mapping[str, Mapping[str, Any]], out_dir: str) -> dict[str, Any]:
  """Writes the comparison plots and compare.md for `reports` (label -> eval.json dict).

  Returns:
    {"markdown": path, "png": [paths]}.
  """
  os.makedirs(out_dir, exist_ok=True)
  pictures = []
  protocols = []
  for report in reports.values():
    protocols += [name for name, entry in report["protocols"].items()
                  if entry.get("by_group") and name not in protocols]
  for protocol in protocols:
    series = [dict(label=label, **report["protocols"][protocol]["by_group"])
              for label, report in reports.items()
              if report["protocols"].get(protocol, {}).get("by_group")]
    pictures.append(plots.plot_sensitivity_vs_size(
        series, os.path.join(out_dir, f"sensitivity_vs_size_{protocol}.png"),
        title=f"{protocol}: sensitivity to one-pixel moves versus embedding size "
              "(± standard error)"))
  pictures.append(plots.plot_protocol_bars(
      [dict(label=label, metrics={name: entry["metrics"]
                                  for name, entry in report["protocols"].items()})
       for label, report in reports.items()],
      os.path.join(out_dir, "metrics_per_protocol.png"),
      clean_accuracy={label: report["clean_accuracy"]["mean"]
                      for label, report in reports.items()},
      title="metrics per protocol (± standard error)"))
  pictures.append(plots.plot_invariance_vs_accuracy(
      [dict(label=label, clean_accuracy=report["clean_accuracy"],
            metrics={name: entry["metrics"] for name, entry in report["protocols"].items()})
       for label, report in reports.items()],
      os.path.join(out_dir, "invariance_vs_accuracy.png"),
      title="invariance versus accuracy (± standard error; lower right is better)"))
  markdown_path = os.path.join(out_dir, COMPARE_MD)
  atomic_write_text(markdown_path, markdown_table(reports))
  return {"markdown": markdown_path, "png": pictures}


def compare_workdirs(workdirs: Sequence[str], out_dir: str,
                     labels: Optional[Sequence[str]] = None) -> dict[str, Any]:
  """Reads each workdir's eval/eval.json and writes the comparison into `out_dir`.

  Raises:
    FileNotFoundError: a workdir has no eval/eval.json (it was not evaluated).
    ValueError: no workdirs, or labels that do not match the workdirs one to one.
  """
  if not workdirs:
    raise ValueError("Give at least one workdir to compare.")
  labels = list(labels) if labels else default_labels(workdirs)
  if len(labels) != len(workdirs) or len(set(labels)) != len(labels):
    raise ValueError(f"Need one distinct label per workdir: {len(workdirs)} workdirs, labels "
                     f"{labels}")
  reports = {label: load_report(workdir) for label, workdir in zip(labels, workdirs)}
  return compare_reports(reports, out_dir)


def joined_flag_values(listed: Optional[Sequence[str]],
                       repeated: Optional[Sequence[str]]) -> Optional[list[str]]:
  """The values of a comma-separated flag followed by those of its repeatable twin, whose
  values may contain commas (sweep members are named 'label,seed=0'); None if both are empty."""
  values = [*(listed or []), *(repeated or [])]
  return values or None


def main(argv: Sequence[str]) -> None:
  del argv
  from absl import flags  # pylint: disable=g-import-not-at-top
  result = None
  workdirs = joined_flag_values(flags.FLAGS.workdirs, flags.FLAGS.workdir)
  labels = joined_flag_values(flags.FLAGS.labels, flags.FLAGS.label)
  if not workdirs:
    sys.exit("error: give the runs to compare with --workdirs=a,b or --workdir=a --workdir=b")
  try:
    result = compare_workdirs(workdirs, flags.FLAGS.out, labels)
  except (FileNotFoundError, ValueError) as error:
    sys.exit(f"error: {error}")
  with open(result["markdown"]) as f:
    print(f.read())
  print(f"plots: {', '.join(result['png'])}")


def _define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_list("workdirs", None, "Comma-separated evaluated workdirs (each with "
                    "eval/eval.json).")
  flags.DEFINE_multi_string("workdir", None, "One evaluated workdir, repeatable, for names "
                            "with commas (sweep members): compared after --workdirs.")
  flags.DEFINE_string("out", None, "Directory for the comparison plots and compare.md.")
  flags.DEFINE_list("labels", None, "Comma-separated legend labels, one per workdir "
                    "(default: the workdir names).")
  flags.DEFINE_multi_string("label", None, "One legend label, repeatable: follows --labels.")
  flags.mark_flags_as_required(["out"])


if __name__ == "__main__":
  from absl import app  # pylint: disable=g-import-not-at-top
  _define_flags()
  app.run(main)

"""What a hardware profile (`python -m planner probe`) does to the error on measured rows of its GPU.

For every file of `../shared/data/measured/` this predicts the rows measured on the profile's GPU
(uncalibrated) three ways and prints the median absolute percentage error and the median
predicted / measured of each measured metric:

- `datasheet`: the catalog's peaks (no profile);
- `scaled`: `--hardware FILE` as the planner applies it (peaks x probe rate / reference rate);
- `replaced`: the probe's rates in place of the peaks (how `--hardware` worked before; emulated
  with a profile whose rates make the scaled peaks equal the measured rates).

    python bench/hardware_probe.py [profiles/hardware/reference-H200-SXM.json]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.predict import predict, read_measurements  # noqa: E402
from planner.profiling.torch_probe import REFERENCE_PROBE, load_hardware_profile, reference_fractions, save_hardware_profile  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "measured"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("profile", nargs="?", type=Path, default=REFERENCE_PROBE)
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args(argv)
    hw = load_hardware_profile(args.profile)
    ref = reference_fractions()
    replaced = hw.model_copy(
        update={"tflops": {k: v * ref[k] for k, v in hw.tflops.items() if k in ref}, "memory_bandwidth_tb_s": hw.memory_bandwidth_tb_s * ref["memory"]}
    )
    with tempfile.TemporaryDirectory() as tmp:
        replaced_path = save_hardware_profile(replaced, Path(tmp) / "replaced.json")
        print(f"{args.profile.name}: {hw.device} ({hw.gpu}), {hw.tflops}, copy {hw.memory_bandwidth_tb_s} TB/s")
        for path in sorted(args.data.glob("*.csv")):
            rows = read_measurements(path)
            rows = rows[rows["gpu"] == hw.gpu]
            if rows.empty:
                continue
            for label, kw in (("datasheet", {}), ("scaled", {"hardware": args.profile}), ("replaced", {"hardware": replaced_path})):
                p = predict(rows, profile=False, **kw)
                parts = []
                for metric in ("output_tok_s", "itl_ms", "ttft_ms"):
                    if p[metric].notna().sum() == 0:
                        continue
                    r = pd.to_numeric(p[f"pred_{metric}"], errors="coerce") / pd.to_numeric(p[metric], errors="coerce")
                    parts.append(f"{metric} n={int(r.notna().sum())} APE {((r - 1).abs() * 100).median():5.1f}% ratio {r.median():.2f}")
                print(f"  {path.name:34s} {label:9s} " + " | ".join(parts), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

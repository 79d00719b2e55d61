"""Dashboard speed: the median time Streamlit's AppTest takes to rerun each page after one input
changes (what a user waits for after a click, minus the browser), the first run of each page
(cold caches) reported beside it.

    python bench/ui_speed.py [--repeat N]

Target: a median rerun under 300 ms per page.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

#: (page, widget kind, label, values to cycle through): one input per page, as a user would change it.
CHANGES = [
    ("ui/plan.py", "number_input", "Output tokens (OSL)", [256, 300, 400, 512, 640, 768]),
    ("ui/compare.py", "number_input", "Concurrent users", [32, 40, 48, 64, 80, 96]),
    ("ui/fleet.py", "number_input", "Target requests/s", [8.7, 6.0, 7.0, 9.0, 10.0, 11.0]),
    ("ui/calibration.py", "selectbox", "Look at one profile", None),
]


def widget(at: AppTest, kind: str, label: str):
    return next(w for w in [*getattr(at.sidebar, kind), *getattr(at, kind)] if w.label == label)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=6, help="input changes timed per page")
    args = ap.parse_args(argv)
    results = {}
    for page, kind, label, values in CHANGES:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        t0 = time.perf_counter()
        at.run()
        if page != "ui/plan.py":
            at.switch_page(page).run()
        first = time.perf_counter() - t0
        w = widget(at, kind, label)
        options = values or list(w.options)[: args.repeat]
        times = []
        for k in range(args.repeat):
            w = widget(at, kind, label)
            t0 = time.perf_counter()
            w.set_value(options[(k + 1) % len(options)]).run()
            times.append(time.perf_counter() - t0)
            assert not at.exception, at.exception
        results[page] = statistics.median(times)
        print(
            f"{page:22s} first run {first:6.2f} s   rerun after a change: median {1e3 * results[page]:6.0f} ms (max {1e3 * max(times):.0f} ms, n={len(times)})"
        )
    print(" ".join(f"{Path(p).stem}_rerun_ms={1e3 * t:.0f}" for p, t in results.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

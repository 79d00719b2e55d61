"""Calibration: the profiles with their fit quality, a new profile from uploaded benchmark files,
and this host's GPUs with the command that would calibrate them."""

from __future__ import annotations

import math
import re
import shlex
import tempfile
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import planner
from planner.calibration import calibrate_frame
from planner.importers import import_files
from planner.measurements import systems_read
from planner.profiles import MIN_ERRORS_PER_PARALLELISM, PRIOR_WIDTH_LOG, PROFILE_DIR, profiles, save_profile
from planner.profiling.nvml import NoNvidiaGpu, local_gpus
from ui.common import export_buttons, fmt

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")

st.title("Calibration")
shipped = profiles()
table = pd.DataFrame(
    [
        {
            "profile": p.name,
            "gpu": p.gpu,
            "engine": p.engine,
            "precision": p.precision,
            "engine version": p.version_family or "",
            "points": p.residuals.n_points,
            "median error (%)": None if p.residuals.median_abs_pct is None else round(p.residuals.median_abs_pct, 1),
            "p90 error (%)": None if p.residuals.p90_abs_pct is None else round(p.residuals.p90_abs_pct, 1),
            "p90 by TP": p.p90_by_parallelism_text,
            "at a physical bound": ", ".join(p.at_bounds),
            "fitted": ", ".join(f"{k}={p.parameters[k]:.3g}" for k in p.fitted),
            "created": p.made_by.created,
        }
        for p in shipped
    ]
)
st.subheader(f"Profiles ({len(shipped)} in {PROFILE_DIR.name}/)")
st.caption(
    "In-sample errors of each fit (output tokens/s and ITL); an estimate states the p90 of the points most like it (its model's architecture at its TP "
    f"degree x attention DP, else every model at that degree) where they hold {MIN_ERRORS_PER_PARALLELISM} or more errors, else the p90 over all. "
    "`python bench/calibration_eval.py` measures the error on rows a profile never saw."
)
st.dataframe(table, width="stretch", hide_index=True)
export_buttons("profiles", table=table)

if shipped:
    name = st.selectbox("Look at one profile", [p.name for p in shipped])
    p = next(x for x in shipped if x.name == name)
    points = pd.DataFrame(p.points)
    left, right = st.columns(2)
    for column, metric, unit in ((left, "output_tok_s", "output tokens/s"), (right, "itl_ms", "ITL (ms)")):
        if f"pred_{metric}" not in points or points[f"pred_{metric}"].isna().all():
            column.info(f"No {unit} points in this profile.")
            continue
        ok = points.dropna(subset=[metric, f"pred_{metric}"])
        top = float(max(ok[metric].max(), ok[f"pred_{metric}"].max()))
        fig = go.Figure(
            [
                go.Scatter(x=ok[metric], y=ok[f"pred_{metric}"], mode="markers", text=ok.get("model"), name="points"),
                go.Scatter(x=[0, top], y=[0, top], mode="lines", line_dash="dash", name="predicted = measured"),
            ]
        )
        fig.update_layout(
            title=f"{unit}: predicted against measured",
            xaxis_title=f"measured {unit}",
            yaxis_title=f"predicted {unit}",
            height=360,
            margin=dict(l=10, r=10, t=40, b=10),
        )
        column.plotly_chart(fig, width="stretch")
    if p.at_bounds:
        bound = ", ".join(f"{k} = {v:.3g}" for k, v in p.at_bounds.items())
        st.warning(
            f"Fitted on a physical bound: {bound}. These measurements show something the model lacks, so this profile transfers to other models, lengths and TP degrees with less confidence."
        )
    r = p.ranges
    st.caption(
        f"Fitted on {', '.join(p.models)} "
        f"({fmt(r.params_b and r.params_b[0])}–{fmt(r.params_b and r.params_b[1])} B parameters), ISL {r.isl}, OSL {r.osl}, batch {r.batch}, TP {r.tp}; "
        f"engine versions {', '.join(p.engine_versions) or 'not recorded'}; made {p.made_by.created} by `{p.made_by.command}`. Estimates outside these ranges, for a model it was not fitted on, or at another precision say 'extrapolated' and widen their uncertainty (for another model or precision its parameters move at most a factor of {math.exp(PRIOR_WIDTH_LOG):.2f} from the defaults); other GPUs never use it."
    )

with st.expander("How the numbers are made"):
    st.markdown(
        """
A profile holds five physical parameters fitted per GPU × engine × precision (× engine version): the
achieved fractions of peak tensor throughput (η_compute) and of memory bandwidth (η_memory), a fixed
time per step, the achieved fraction of link bandwidth (η_comm, only with TP/PP > 1 data) and a fixed
time per MoE layer (only with MoE data). The fit minimises the log error of output tokens/s and ITL
with a robust loss and a prior toward the defaults; a fit whose in-sample median error passes 50 % is
refused. A parameter that ends on its physical bound (η of 1, say) means the measurements show
something the model lacks: such a profile transfers to other models with less confidence. An
estimate's uncertainty is the profile's in-sample p90 error (at least ±10 %), widened outside its
ranges; for a model the profile was not fitted on (nor one of its architecture), at a TP degree
it did not see or at another precision, it is at least the uncalibrated band of the model class, because out of sample such
answers are better in the median but no better in the tail; for such a model or precision each parameter moves at most a
factor of 1.35 from the engine's default toward the fitted value, since a fit far from the defaults took up what
is particular to the models it saw. A GPU without a profile of its own uses
the uncalibrated model, not another GPU's profile: out of sample those are no better, and on
SGLang and vLLM worse.
"""
    )

st.subheader("Fit a profile from benchmark files")
uploads = st.file_uploader(
    "trtllm-bench report (JSON or text), GenAI-Perf / AIPerf export, vLLM or SGLang result, or a measurement CSV",
    accept_multiple_files=True,
    type=["json", "jsonl", "csv", "txt", "log"],
)
st.caption("Fill in only what the files do not record (the error says which); a value that contradicts a file is refused.")
c = st.columns(4)
gpu = c[0].text_input("GPU", "")
model = c[1].text_input("Model", "")
precision = c[2].text_input("Precision", "")
engine = c[3].selectbox("Engine", ["", "trtllm", "vllm", "sglang"])
c = st.columns(4)
tp = c[0].number_input("TP (0 = from the files)", 0, 1024, 0)
pp = c[1].number_input("PP (0 = from the files)", 0, 256, 0)
adp = c[2].number_input("Data-parallel ranks (0 = from the files)", 0, 1024, 0)
users = c[3].number_input("Concurrency (0 = from the files)", 0, 1_000_000, 0)
save_as = st.text_input("Save as (file name under profiles/, letters, digits, . _ -)", "")
if uploads:
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for u in uploads:
            path = Path(tmp) / Path(u.name).name
            path.write_bytes(u.getvalue())
            paths.append(path)
        given = dict(
            gpu=gpu.strip(),
            model=model.strip(),
            precision=precision.strip(),
            engine=engine,
            tp=int(tp),
            pp=int(pp),
            attention_dp=int(adp),
            concurrency=int(users),
        )
        given = {k: v for k, v in given.items() if v}
        try:
            frame = import_files(paths, **given)
            for line in systems_read(frame):
                st.info(line)
            fitted, failed = calibrate_frame(frame, command="dashboard upload: " + shlex.join(u.name for u in uploads), inputs=[u.name for u in uploads])
        except planner.PlannerError as exc:
            st.error(str(exc).replace(f"{tmp}/", ""))  # the user's file name, not the temporary copy
            fitted, failed = [], {}
    for why in failed.values():
        st.warning(why)
    for prof in fitted:
        st.success(
            f"{prof.name}: {prof.residuals.n_points} points, in-sample median {fmt(prof.residuals.median_abs_pct)} %, p90 {fmt(prof.residuals.p90_abs_pct)} %"
        )
        if prof.at_bounds:
            bound = ", ".join(f"{k} = {v:.3g}" for k, v in prof.at_bounds.items())
            st.warning(f"{prof.name}: fitted on a physical bound ({bound}); these measurements show something the model lacks.")
    if fitted and st.button("Save", disabled=not save_as):
        if not NAME.match(save_as):
            st.error(f"name {save_as!r}: use letters, digits, '.', '_' and '-' (up to 81 characters)")
        elif (PROFILE_DIR / f"{save_as}.json").exists():
            st.error(f"profiles/{save_as}.json exists; choose another name")
        else:
            for k, prof in enumerate(fitted):
                target = PROFILE_DIR / (f"{save_as}.json" if len(fitted) == 1 else f"{save_as}-{k + 1}.json")
                save_profile(prof, target)
                st.success(f"saved {target.relative_to(PROFILE_DIR.parent)} (written atomically)")

st.subheader("This host")
try:
    local = local_gpus()
except NoNvidiaGpu as exc:
    st.info(f"No NVIDIA GPU seen through NVML here ({exc}). On a GPU host this lists them and the command that calibrates them.")
else:
    st.dataframe(pd.DataFrame(local), width="stretch", hide_index=True)
    first = local[0].get("catalog_id") or "<catalog GPU id>"
    st.code(f"python -m planner calibrate --run-trtllm --model meta-llama/Llama-3.1-8B --gpu {first} --precision fp8 --dry-run", language="bash")

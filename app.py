"""Streamlit entry point (`streamlit run app.py`): the dashboard's pages.

Thin by design: widgets and layout live in `ui/`, every number comes from the `planner` package
(the same Python API as the CLI).
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="LLM capacity planner", layout="wide")
# No icons: Streamlit's material icons load from fonts.gstatic.com, and the dashboard must work offline.
pages = [
    st.Page("ui/plan.py", title="Plan", default=True),  # served at /
    st.Page("ui/compare.py", title="Compare", url_path="compare"),
    st.Page("ui/fleet.py", title="Workload & fleet", url_path="fleet"),
    st.Page("ui/calibration.py", title="Calibration", url_path="calibration"),
]
st.navigation(pages).run()

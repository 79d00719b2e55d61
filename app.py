"""Streamlit entry point (`streamlit run app.py`): the dashboard's pages.

Thin by design: widgets and layout live in `ui/`, every number comes from the `planner` package
(the same Python API as the CLI).
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="LLM capacity planner", layout="wide")
pages = [
    st.Page("ui/plan.py", title="Plan", icon=":material/calculate:", default=True, url_path="plan"),
    st.Page("ui/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    st.Page("ui/fleet.py", title="Workload & fleet", icon=":material/dns:", url_path="fleet"),
    st.Page("ui/calibration.py", title="Calibration", icon=":material/tune:", url_path="calibration"),
]
st.navigation(pages).run()

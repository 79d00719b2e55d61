"""The Streamlit page runs and shows the planner's figures (Streamlit's AppTest, no browser)."""

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def test_app_renders_an_estimate():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert "TTFT (ms)" in labels and "Output tokens/s" in labels


def test_app_reports_does_not_fit():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.sidebar.selectbox[0].set_value("meta-llama/Llama-3.1-405B").run()
    assert not at.exception
    assert any("does not fit" in e.value for e in at.error)

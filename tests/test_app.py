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


def test_app_plans_a_quantized_checkpoint_at_its_own_precision():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.sidebar.selectbox[0].set_value("openai/gpt-oss-120b").run()
    assert not at.exception
    assert any("mxfp4" in c.value and "checkpoint's own" in c.value for c in at.caption)
    at.sidebar.selectbox[2].set_value("fp16").run()
    assert any("16-bit copy" in w.value for w in at.warning)


def test_app_labels_the_operating_point_of_its_latency():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    captions = " ".join(c.value for c in at.caption)
    assert "Operating point: offline max throughput" in captions and "queued burst" in captions
    assert "One request alone" in captions

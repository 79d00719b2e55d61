import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: The project's shared data (`../shared/data`): measured results, engine logs, file formats and
#: traces. Tests that read it fail, not skip, where it is missing (`test_shared_data_is_present`).
SHARED_DATA = ROOT.parent / "shared" / "data"

import sys
from pathlib import Path

# pipeline.py sits beside the tests (importlib import mode does not add test folders to sys.path).
sys.path.insert(0, str(Path(__file__).parent))

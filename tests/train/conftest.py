import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # lets the tests import train_fixtures

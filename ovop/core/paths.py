"""Where the repository's own folders are: the checkout root, instance/ (database, secrets) and locales/."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTANCE = ROOT / "instance"
LOCALES = ROOT / "locales"

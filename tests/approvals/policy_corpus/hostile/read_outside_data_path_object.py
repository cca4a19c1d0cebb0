# A Path built from pieces, outside /data.
from pathlib import Path

base = Path("/etc")
print((base / "passwd").read_text())

"""Files to upload (real XLSX/Parquet/JSON from the sandbox runtime's pandas, an XLSX zip bomb) and the
worker's part of an upload, run in the test's process."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile

from analysis.models import Dataset
from analysis.services.datasets import dataset_profile


def made_by_pandas(tmp_path: Path, name: str, writer: str) -> bytes:
    """A real XLSX/Parquet/JSON file, written by the sandbox runtime's pandas (the app has no pandas)."""
    path = tmp_path / name
    script = (
        "import pandas as pd\n"
        "df = pd.DataFrame({'city': ['Lyon', 'Nantes', 'Lille'], 'visits': [3, 5, 8]})\n"
        f"df.{writer}({str(path)!r}{', index=False' if 'excel' in writer else ''})\n"
    )
    subprocess.run([str(settings.SANDBOX_RUNTIME_DIR / "bin" / "python"), "-c", script], check=True)
    return path.read_bytes()


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)


def xlsx_bomb(tmp_path: Path, *, expanded_mb: int = 150) -> bytes:
    """A real XLSX whose sheet is `expanded_mb` MB of XML (millions of one-cell rows) that deflates to a few
    hundred KB: 150 MB → 383 KB, the size of the file that held a web thread 39 s when it was profiled in
    the upload's request."""
    path = tmp_path / "bomb.xlsx"
    row = b"<row><c><v>1</v></c></row>" * 40_000
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.'
                b'openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
                b'<row><c t="inlineStr"><is><t>n</t></is></c></row>'
            )
            for _ in range(expanded_mb * 1024 * 1024 // len(row)):
                sheet.write(row)
            sheet.write(b"</sheetData></worksheet>")
    return path.read_bytes()


def replace_stored(dataset: Dataset, content: bytes) -> None:
    """Someone with access to the storage (the bucket, the web machine's disk) swaps the file's bytes."""
    storage = dataset.file.storage
    storage.delete(dataset.file.name)
    assert storage.save(dataset.file.name, ContentFile(content)) == dataset.file.name


def stored_bytes(dataset: Dataset) -> bytes:
    with dataset.file.open("rb") as fh:
        return fh.read()


def profile_waiting() -> list[Dataset]:
    """What the execute worker does with every upload handed to it (`profiling`): the task's service, here."""
    waiting = list(Dataset.objects.filter(status=Dataset.Status.PROFILING).order_by("created_at"))
    for dataset in waiting:
        dataset_profile(dataset_id=dataset.pk)
        dataset.refresh_from_db()
    return waiting

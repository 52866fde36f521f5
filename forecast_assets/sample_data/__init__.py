"""Shipped sample source files (two Weather Underground workbooks, one InfoClimat response) and their paths."""

from __future__ import annotations

from pathlib import Path

#: This folder: where the shipped sample files live.
SAMPLE_DIR: Path = Path(__file__).resolve().parent

#: Weather Underground workbook of Ichtegem, BE (sheets ``011024`` … ``071024``).
BE_WORKBOOK: Path = SAMPLE_DIR / "IICHTE19.xlsx"

#: Weather Underground workbook of La Madeleine, FR (sheets ``011024`` … ``071024``).
FR_WORKBOOK: Path = SAMPLE_DIR / "ILAMAD25.xlsx"

#: InfoClimat open-data response; despite its name it covers 2024-10-05 00:00 to 2024-10-07 12:00 UTC.
INFOCLIMAT_RESPONSE: Path = SAMPLE_DIR / "infoclimat_2024-10-01_2024-10-07.json"

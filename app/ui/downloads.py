"""Downloads. Every CSV the app offers is written here, with each text cell that a
spreadsheet would run as a formula made inert (OWASP "CSV injection"): a cell starting with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``, which
spreadsheets show as text and do not evaluate. Numbers stay numbers.

Not defusedcsv: it leaves tab- and CR-led cells alone and rewrites every ``|`` in a
flagged cell; and st.dataframe's own CSV export escapes nothing, so it is switched off
(``client.disableDataExport`` in ``app/.streamlit/config.toml``).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.text import map_text_cells

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def inert(value: object) -> object:
    """A text cell a spreadsheet shows as text; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_bytes(df: pd.DataFrame) -> bytes:
    out = map_text_cells(df, inert)
    out.columns = [inert(str(c)) for c in out.columns]
    # RFC 4180 line ends: the csv writer then quotes every cell holding a CR or LF (with
    # "\n" alone, a lone CR went out unquoted and split the row in a spreadsheet).
    return out.to_csv(index=False, lineterminator="\r\n").encode()


def csv_button(df: pd.DataFrame, name: str, key: str) -> None:
    st.download_button(
        f"Download {name} (CSV)", csv_bytes(df), file_name=f"{key}.csv",
        mime="text/csv", key=f"csv_{key}", icon=":material/download:",
    )


def file_button(label: str, data, file_name: str, mime: str, key: str, container=st) -> None:
    """A download of a file the platform wrote itself (a report's HTML or notebook), not a
    table of user data: offered as it is."""
    container.download_button(label, data=data, file_name=file_name, mime=mime, key=key,
                              icon=":material/download:")

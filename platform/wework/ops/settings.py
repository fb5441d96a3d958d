"""Settings of the operations package (``WEWORK_*`` environment variables).

Kept apart from :class:`wework.config.Settings` so this package owns its knobs; the
database connection itself always comes from the main settings.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from wework.config import Settings


class OpsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEWORK_", extra="ignore")

    # Where backups and their manifest live; default <data_dir>/backups.
    backup_dir: Path | None = None
    # Backups older than this are removed after each backup (the newest full backup and
    # everything after it are always kept, so there is always something to restore).
    backup_retention_days: int = Field(default=30, ge=1)
    # gzip level of dumps and binlogs: 1 is several times faster than 6 for ~10% more bytes.
    backup_compress_level: int = Field(default=1, ge=1, le=9)

    # Data retention in calendar months (spec §分表策略: messages older than 3 years go).
    retention_messages_months: int = Field(default=36, ge=1)
    retention_account_status_history_months: int = Field(default=36, ge=1)
    retention_callback_events_months: int = Field(default=36, ge=1)
    # Rows deleted per transaction: short transactions, no long locks (spec: LIMIT 10000).
    retention_batch_size: int = Field(default=10_000, ge=1)

    def backup_path(self, settings: Settings) -> Path:
        return (self.backup_dir or settings.data_dir / "backups").resolve()


def get_ops_settings() -> OpsSettings:
    return OpsSettings()

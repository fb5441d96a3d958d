"""Operations: backups and point-in-time restore, data retention, failure handling.

- :mod:`.backup` — full (`mariadb-dump`) and binlog-incremental backups, the manifest,
  pruning of old backups (`wework db backup`).
- :mod:`.restore` — restore a full backup and replay binlogs up to a moment
  (`wework db restore`).
- :mod:`.retention` — the spec's data cleanup: old partitions dropped, the rest deleted in
  small batches (`wework db maintain`).
- :mod:`.availability` — a clear, fast error when the primary is down.

The same jobs on Dagster schedules live with the rest of the Dagster code, in
``pipelines/operations.py``.
"""

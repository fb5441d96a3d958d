"""Database access: server URLs and engines, shard routing, the local MariaDB pair,
partitions, migrations and replication health."""

"""Redis for the platform: the local server (:mod:`.server`) and the one client factory
every user of Redis goes through (:mod:`.redis`). Redis is never the source of truth."""

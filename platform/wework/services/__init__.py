"""Business services: the only code that writes to the primary.

Every operation takes a :class:`~wework.services.context.ServiceContext` (the acting user
and the tenant acted on), checks the permission it needs itself, and runs as one
transaction on the tenant's shard of the primary (:mod:`wework.services.uow`).
"""

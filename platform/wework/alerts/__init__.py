"""Operator alerts: rules as data (``alerts/rules.yaml`` + a deployment's overrides,
:mod:`~wework.alerts.rules`), what they measure (:mod:`~wework.alerts.signals`), their
evaluation into alert states and notices (:mod:`~wework.alerts.engine`), posting the
notices to the operators' webhook (:mod:`~wework.alerts.notify`) and reading them back
(:mod:`~wework.alerts.history`). The worker's ``alerts`` job runs evaluation and posting
every minute; ``wework alerts`` does it by hand."""

"""WeWork Platform: multi-tenant WeCom account, message and callback management."""

__version__ = "0.1.0"

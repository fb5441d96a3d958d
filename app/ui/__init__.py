"""Shared pieces of the Streamlit app: session (login, idle timeout, tenant), navigation,
report queries over the published marts, and widgets used by several pages."""

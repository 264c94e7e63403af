"""Built-in plugins. Each module is registered through the ``govai`` entry-point
group (see pyproject.toml) and marks its hooks ``trylast`` so that any other
plugin implementing the same hook is asked first."""

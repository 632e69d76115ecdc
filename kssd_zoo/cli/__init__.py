"""Subcommands of the ``kssd`` command line (one module per subcommand)."""

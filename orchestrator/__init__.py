"""The orchestrator: owns the state (SQLite), serves the hosts as their conductor, offers the
API that scenarios, tests and the CLI use, and supervises the host processes.

It must not import ``hosts``: it knows them by their messages and by the entry named in
``cluster.host_entry``."""

"""Control: ``testbed up``'s server, which answers the control commands (``status``,
``create-server``, ``kill``, ``evacuate``, ``check``, ...) on a running cluster; the commands
are the control face of the table of user actions (``orchestrator.run.actions``).

It may import the cluster and running; it holds no action of its own and is imported only by
the command line."""

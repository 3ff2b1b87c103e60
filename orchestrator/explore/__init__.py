"""Exploring: the explorer runs a scenario under every schedule a strategy (``strategies``:
DPOR by default) asks for, each through the runner on a fresh cluster (``prestart`` starts the
next one while a schedule runs); losing schedules become replay files and, minimised
(``minimize``), regression scenarios; ``pytest_items`` makes each exploration a pytest item,
or several (``split``: one exploration cut by schedule prefix).

It sits above running: it may import the cluster, holds, history and run, and nothing imports
it but the command line and the pytest plugin."""

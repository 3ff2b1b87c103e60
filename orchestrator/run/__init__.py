"""Running a scenario: scenario files (``scenario``), the table of user actions behind
scenario steps and control commands (``action``, ``actions``, ``steps``), the runner, the
checks and their retry policy, the verdict (pass, fail, inconclusive) and the kill sweep, a
generator of scenarios run by the same runner.

It drives a cluster and judges what happened; it may import the cluster, holds and history,
never exploring, control or the command line."""

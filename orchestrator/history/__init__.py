"""History: the run's ``history.jsonl`` (``recorder``: every process's points, lock use,
requests and state changes, in one time order), what it tells (``story``: lanes, steps, the
sentence saying why a device was freed) and the page that shows it (``timeline``).

It records and renders; it must not change the cluster or judge a run. It may import the
cluster (to observe it) and the kernel, never running, exploring or control."""

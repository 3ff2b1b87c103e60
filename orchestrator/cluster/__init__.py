"""The cluster: what one run of hosts is made of. The supervisor forks and kills host
processes; the conductor serves their state requests (and the hold board's replies) on a
ROUTER; the network between them can be partitioned or slowed; the generic state (services,
tasks) and API (waits, host states, tasks) sit under the system under test's own, which the
cluster loads by name (``cluster.system``, through ``testbed.system``).

It must not import running, exploring, history or control: whoever drives a cluster hands it
what it needs (a history recorder, a board policy), never the reverse. It decides nothing
about the race."""

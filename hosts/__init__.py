"""The compute host: one OS process per host (``hosts.process``) running the system under test
that ``cluster.system`` names (``hosts/model/``: this project's model of Nova's compute host).
It talks to the orchestrator only over ZeroMQ.

It must not import ``orchestrator``: it knows the cluster only through its conductor client
and the commands it receives."""

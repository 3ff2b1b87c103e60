"""The compute host: the system under test, modelled on Nova's compute manager and resource
tracker. Runs as one OS process per host; talks to the orchestrator only over ZeroMQ.

It must not import ``orchestrator``: it knows the cluster only through its conductor client
and the commands it receives."""

"""Holds: the board on which a traced host's reports wait for their reply, and the policies
that decide when to release them: ``[holds]`` from the configuration (``policy``, with its
``record`` of what happened to each hold) and the explorer's (``explorer_policy``).

It is the lowest room of the orchestrator: it imports only the kernel. It never talks to a
socket (the conductor sends what the board releases) and never touches the state."""

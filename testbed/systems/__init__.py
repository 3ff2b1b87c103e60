"""What both halves of a system under test must agree on, one module per system, in the
kernel because both sides read it (text only: nothing here imports the system itself)."""

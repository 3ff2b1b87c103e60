"""The built-in scenarios, one TOML file each: data, no code (see ``orchestrator.run.scenario``)."""

"""The model of Nova's compute host: its compute manager, resource tracker and PCI tracker,
written here to mirror Nova's (the fast, embedded system under test)."""

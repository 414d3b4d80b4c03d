"""The datashare benchmark suite: synthetic districts, the floor, a pandas reference."""

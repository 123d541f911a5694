"""The child side of container creation (DESIGN §3). Imports only stdlib, L0/L1 and plan data."""

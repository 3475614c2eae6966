"""Wallet intelligence: profiles, signals, round trips, the funding graph, the scanner and its evaluation against the simulator's truth."""

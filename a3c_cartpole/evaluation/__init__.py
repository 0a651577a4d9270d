"""Greedy episodes: the solved check, and playing many episodes at once."""

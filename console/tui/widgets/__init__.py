"""Widgets render what the board says; they decide nothing."""
